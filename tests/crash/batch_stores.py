"""Stores for the batch tests of the crash suite: planted batch bugs that only a kill in the
middle of a batch shows, LMDB with failpoints inside its write transactions, and stores
with batch methods they do not declare (the suite must never call those)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, ClassVar

from warmtier.failpoints import failpoint
from warmtier.store import WarmTierStore
from warmtier.validation import record_fields


class PutManyLastRecordFirst(WarmTierStore):
    """``put_many`` writes the batch's last record first, then the others in order (a
    planted bug). Its end state is the loop's (an earlier record of the last one's id is
    dropped), so only a kill in the middle shows it: a later record applied without an
    earlier one, not a prefix."""

    def put_many(self, records: Iterable[Any]) -> None:
        rows = list(records)
        if len(rows) < 2:
            return super().put_many(rows)
        last = record_fields(rows[-1])[0]
        rest = [row for row in rows[:-1] if record_fields(row)[0] != last]
        return super().put_many([rows[-1], *rest])


class RemoveManyBackwards(WarmTierStore):
    """``remove_many`` removes the ids last to first (a planted bug): the same end state,
    but a kill in the middle leaves a later id removed and an earlier one not."""

    def remove_many(self, ids: Iterable[str]) -> list[bool]:
        return super().remove_many(list(ids)[::-1])[::-1]


def _never(name: str) -> Callable[..., Any]:
    def refuse(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"the crash suite called {name}, which "
                             f"{type(self).__name__} does not declare in batch_calls")

    return refuse


class BatchesUndeclared(WarmTierStore):
    """The reference store declaring no batch call: each batch method raises, so a suite
    that calls one anyway fails loudly (a method alone promises nothing)."""

    batch_calls: ClassVar[tuple[str, ...]] = ()
    put_many = _never("put_many")
    get_many = _never("get_many")
    remove_many = _never("remove_many")
    search_many = _never("search_many")


class PutManyOnly(WarmTierStore):
    """The reference store declaring ``put_many`` alone: the other batch methods raise."""

    batch_calls: ClassVar[tuple[str, ...]] = ("put_many",)
    get_many = _never("get_many")
    remove_many = _never("remove_many")
    search_many = _never("search_many")


try:
    from warmtier.adapters.lmdb import LMDBStore
except ImportError:  # pragma: no cover - py-lmdb missing
    LMDBStore = None  # type: ignore[assignment,misc]

if LMDBStore is not None:

    class _Announced:
        """An LMDB write transaction that calls a failpoint after each put and delete."""

        def __init__(self, txn: Any) -> None:
            self._txn = txn

        def put(self, key: bytes, value: bytes) -> Any:
            done = self._txn.put(key, value)
            failpoint("lmdb.after_txn_put")
            return done

        def delete(self, key: bytes) -> Any:
            done = self._txn.delete(key)
            failpoint("lmdb.after_txn_delete")
            return done

        def __getattr__(self, name: str) -> Any:
            return getattr(self._txn, name)

    class LMDBWithFailpoints(LMDBStore):  # type: ignore[valid-type,misc]
        """The LMDB adapter as it is, plus a failpoint after each write inside its
        transactions, so a kill lands between two records of a batch's one transaction
        (the adapter itself has no failpoints: its kills are timed or between calls)."""

        failpoint_names: ClassVar[tuple[str, ...]] = ("lmdb.after_txn_put",
                                                      "lmdb.after_txn_delete")

        def _write(self, body: Callable[[Any], Any]) -> Any:
            return super()._write(lambda txn: body(_Announced(txn)))
