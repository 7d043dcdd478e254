"""The public contract as types (``Store``, ``StoreClass``), checked by mypy against our
stores, and the few ways every suite reads or releases a store through it.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from warmtier.records import Record

__all__ = ["Store", "StoreClass", "close_quietly", "snapshot"]


@runtime_checkable
class Store(Protocol):
    """A store object, as ``../shared/contract.md`` describes it (``check()`` is optional
    and so not part of the protocol: ask :attr:`Subject.has_check`)."""

    @property
    def dim(self) -> int: ...
    @property
    def path(self) -> str: ...
    def put(self, id: str, embedding: Any, content: bytes | str,
            confidence: float = 1.0) -> None: ...
    def get(self, id: str) -> Record | None: ...
    def remove(self, id: str) -> bool: ...
    def __len__(self) -> int: ...
    def __contains__(self, id: object) -> bool: ...
    def ids(self) -> list[str]: ...
    def scan(self, batch_size: int = 1024) -> Iterator[Record]: ...
    def search(self, query: Any, k: int = 10) -> Sequence[tuple[str, float]]: ...
    def compact(self) -> Any: ...
    def flush(self) -> None: ...
    def stats(self) -> Any: ...
    def close(self) -> None: ...
    def __enter__(self) -> Any: ...
    def __exit__(self, *exc: object) -> None: ...


class StoreClass(Protocol):
    """The class of a store: ``create`` and ``open`` (options beyond the contract's are
    the store's own; :class:`Subject` says which it takes)."""

    failpoint_names: tuple[str, ...]

    def create(self, path: str | os.PathLike[str], dim: int) -> Store: ...
    def open(self, path: str | os.PathLike[str]) -> Store: ...


def snapshot(store: Store, prefix: str = "") -> dict[str, Record]:
    """Every live record whose id starts with ``prefix``, by id, read through the contract
    (an id removed between ``ids()`` and ``get()`` is left out)."""
    out: dict[str, Record] = {}
    for ident in store.ids():
        if ident.startswith(prefix):
            rec = store.get(ident)
            if rec is not None:
                out[ident] = rec
    return out


def close_quietly(store: Any, wait: float | None = None) -> None:
    """Close ``store``, ignoring what a broken one raises (a check already reported it).

    With ``wait`` the close runs on a helper thread and is abandoned after ``wait``
    seconds, so a store that leaked its own lock cannot hang the suite."""

    def close() -> None:
        with contextlib.suppress(Exception):
            store.close()

    if wait is None:
        close()
        return
    thread = threading.Thread(target=close, name="close-quietly", daemon=True)
    thread.start()
    thread.join(wait)


if TYPE_CHECKING:  # mypy proves that our stores keep the protocol
    from warmtier.model import ModelStore
    from warmtier.store import WarmTierStore

    _reference: StoreClass = WarmTierStore
    _model: StoreClass = ModelStore
