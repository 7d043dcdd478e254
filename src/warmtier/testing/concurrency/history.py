"""Record a store's concurrent history, and judge it: linearizable against the model
(:class:`StoreModel`, a :class:`~warmtier.model.ModelStore` per step), scans weakly consistent."""

from __future__ import annotations

import hashlib
import itertools
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from warmtier.errors import InvalidArgumentError, WarmTierError
from warmtier.model import ModelStore, cosine_scores
from warmtier.records import Record
from warmtier.testing.compare import SCORE_ATOL, StoreMismatch, assert_search_matches
from warmtier.testing.concurrency.linearizability import (
    CheckResult,
    Operation,
    check,
    format_history,
)
from warmtier.testing.ops import Op
from warmtier.validation import record_fields

__all__ = [
    "HistoryRecorder",
    "RecordingStore",
    "StoreModel",
    "check_history",
    "fingerprint",
    "scan_problems",
]

State = frozenset[tuple[str, bytes]]
#: The batch extensions (docs/contract-extensions.md): one operation each, atomic.
BATCH_KINDS = frozenset({"put_many", "get_many", "remove_many", "search_many"})


def fingerprint(id: str, embedding: Any, content: bytes | str, confidence: float) -> bytes:
    """A 12-byte digest of a record as the store must return it (float32, UTF-8 content)."""
    emb = np.asarray(embedding, dtype=np.float32)
    data = content.encode("utf-8") if isinstance(content, str) else bytes(content)
    h = hashlib.blake2b(digest_size=12)
    h.update(id.encode("utf-8", "surrogatepass"))
    h.update(b"\0")
    h.update(emb.tobytes())
    h.update((np.float32(confidence) + np.float32(0.0)).tobytes())  # -0.0 is 0.0
    h.update(data)
    return h.digest()


def record_fingerprint(record: Record) -> bytes:
    return fingerprint(record.id, record.embedding, record.content, record.confidence)


@dataclass
class _Raw:
    client: int
    kind: str
    key: str | None
    arg: Any
    result: Any
    call: int
    ret: int | None


class HistoryRecorder:
    """Collects operations from any number of threads; one logical clock for all stamps.

    Values are compared by a fingerprint of the whole record, so a torn or mixed read
    matches no write and fails the check.

    >>> from warmtier.model import ModelStore
    >>> from warmtier.testing.concurrency.linearizability import check
    >>> rec = HistoryRecorder()
    >>> store = rec.wrap(ModelStore(dim=2))
    >>> store.put("a", [1.0, 0.0], b"x"); store.get("a").content
    b'x'
    >>> check(rec.history(), StoreModel()).ok
    True
    >>> _ = store.search([1.0, 0.0], k=2); _ = list(store.scan())
    >>> check_history(rec.history(), rec.model()).verdict.value
    'ok'
    """

    def __init__(self) -> None:
        self._clock = itertools.count()
        self._ops: list[_Raw] = []
        self._clients: dict[int, int] = {}
        self._labels: dict[bytes, str] = {}
        self.embeddings: dict[bytes, np.ndarray[Any, np.dtype[np.float32]]] = {}
        self._lock = threading.Lock()
        self.dim: int | None = None

    def wrap(self, store: Any) -> RecordingStore:
        self.dim = getattr(store, "dim", None)
        return RecordingStore(store, self)

    def client(self) -> int:
        """This thread's number: N for the harness threads ``race-N`` and ``sched-N``
        (so histories and schedules name threads alike), 1000 + order of appearance
        for any other thread."""
        ident = threading.get_ident()
        known = self._clients.get(ident)
        if known is not None:
            return known
        prefix, _, number = threading.current_thread().name.rpartition("-")
        with self._lock:
            if prefix in ("race", "sched") and number.isdigit():
                value = int(number)
            else:
                value = 1000 + len(self._clients)
            return self._clients.setdefault(ident, value)

    def label(self, token: bytes, content_len: int, embedding: Any = None) -> None:
        with self._lock:
            self._labels.setdefault(token, f"v{len(self._labels)}({content_len}B)")
            if embedding is not None:
                self.embeddings.setdefault(token, np.array(embedding, dtype=np.float32))

    def model(self) -> StoreModel:
        """The checker model for this history (it knows each put's embedding, for search)."""
        return StoreModel(self.embeddings, self.dim)

    def tick(self) -> int:
        return next(self._clock)

    def add(self, raw: _Raw) -> None:
        self._ops.append(raw)  # list.append is atomic under the GIL

    def __len__(self) -> int:
        return len(self._ops)

    def _show(self, value: Any) -> str:
        if isinstance(value, bytes):
            return self._labels.get(value, f"<unwritten value {value.hex()[:8]}>")
        if isinstance(value, tuple) and all(isinstance(v, tuple) for v in value):
            return "[" + ", ".join(
                f"{v[0]!r}: {self._show(v[1]) if isinstance(v[1], bytes) else v[1]}"
                for v in value
            ) + "]"
        if isinstance(value, tuple) and all(v is None or isinstance(v, bytes) for v in value):
            return "(" + ", ".join(self._show(v) for v in value) + ")"
        if isinstance(value, frozenset):
            return "{" + ", ".join(sorted(repr(v) for v in value)) + "}"
        return repr(value)

    def _raw_ops(self) -> Iterator[_Raw]:
        """The recorded calls; a batch that raised as its writes, each pending on its own
        (it may have applied any prefix: letting each write take effect or not, in any
        order, allows more than that, so it never raises a false alarm), and a batch
        read that raised not at all (no answer, nothing to check)."""
        for raw in list(self._ops):
            if raw.ret is not None or raw.kind not in BATCH_KINDS:
                yield raw
            elif raw.kind == "put_many":
                for id, token in raw.arg:
                    yield _Raw(raw.client, "put", id, token, None, raw.call, None)
            elif raw.kind == "remove_many":
                for id in raw.arg:
                    yield _Raw(raw.client, "remove", id, None, None, raw.call, None)

    def history(self) -> list[Operation]:
        """The operations recorded so far, as checker operations with readable labels."""
        out = []
        for raw in self._raw_ops():
            args: tuple[Any, ...] = () if raw.key is None else (raw.key,)
            shown = f"{raw.kind}({raw.key!r}" if raw.key is not None else f"{raw.kind}("
            if raw.kind == "put":
                args = (raw.key, raw.arg)
                shown += f", {self._show(raw.arg)}"
            elif raw.kind == "search":
                args = raw.arg
                shown += f"{list(raw.arg[0])}, k={raw.arg[1]}"
            elif raw.kind == "scan":
                args = raw.arg
                shown += f"batch_size={raw.arg[0]}"
            elif raw.kind in BATCH_KINDS:
                args = raw.arg
                shown += self._show(raw.arg) if raw.kind == "put_many" else (
                    f"<{len(raw.arg[0])} queries>, k={raw.arg[1]}"
                    if raw.kind == "search_many" else repr(list(raw.arg)))
            shown += ")"
            result = ("<raised, effect unknown>" if raw.ret is None else
                      repr([list(answer) for answer in raw.result])
                      if raw.kind == "search_many" and isinstance(raw.result, tuple)
                      else self._show(raw.result))
            out.append(
                Operation(
                    raw.client,
                    raw.kind,
                    args,
                    raw.result,
                    call=raw.call,
                    ret=raw.ret,
                    label=f"{shown} -> {result}",
                )
            )
        return out


class RecordingStore:
    """A contract store that logs each call into a :class:`HistoryRecorder`.

    Only the linearizable calls are logged; ``scan``, ``compact``, ``flush``, ``stats``
    and ``check`` pass through unlogged (compaction must not change any record, which
    the logged reads around it verify). A call that raises is logged as pending: it may
    or may not have taken effect.
    """

    def __init__(self, store: Any, recorder: HistoryRecorder) -> None:
        self.store = store
        self.recorder = recorder

    def _run(
        self,
        kind: str,
        key: str | None,
        arg: Any,
        call: Callable[[], Any],
        convert: Callable[[Any], Any],
    ) -> Any:
        rec = self.recorder
        client = rec.client()
        start = rec.tick()
        try:
            value = call()
        except BaseException:
            rec.add(_Raw(client, kind, key, arg, None, start, None))
            raise
        end = rec.tick()
        rec.add(_Raw(client, kind, key, arg, convert(value), start, end))
        return value

    def put(self, id: str, embedding: Any, content: bytes | str, confidence: float = 1.0) -> None:
        token = self._written(id, embedding, content, confidence)
        self._run(
            "put", id, token, lambda: self.store.put(id, embedding, content, confidence), _none
        )

    def _written(self, id: str, embedding: Any, content: bytes | str, confidence: float) -> bytes:
        """The fingerprint of a record about to be put, labelled in the recorder."""
        token = fingerprint(id, embedding, content, confidence)
        size = len(content.encode("utf-8") if isinstance(content, str) else content)
        self.recorder.label(token, size, np.asarray(embedding, dtype=np.float64))
        return token

    def get(self, id: str) -> Record | None:
        result: Record | None = self._run("get", id, None, lambda: self.store.get(id), _token)
        return result

    def remove(self, id: str) -> bool:
        return bool(self._run("remove", id, None, lambda: self.store.remove(id), bool))

    def __contains__(self, id: str) -> bool:
        return bool(self._run("contains", id, None, lambda: id in self.store, bool))

    def __len__(self) -> int:
        return int(self._run("len", None, None, lambda: len(self.store), int))

    def ids(self) -> list[str]:
        result: list[str] = self._run("ids", None, None, self.store.ids, frozenset)
        return result

    def search(self, query: Any, k: int = 10) -> list[tuple[str, float]]:
        result: list[tuple[str, float]] = self._run(
            "search", None, (_query_key(query), k), lambda: self.store.search(query, k), _pairs
        )
        return result

    def put_many(self, records: Iterable[Any]) -> None:
        """Logged as one operation writing every record in order (a batch the history
        cannot fingerprint, bad input, goes to the store unlogged: it must change nothing)."""
        records = list(records)
        try:
            writes = tuple((fields[0], self._written(*fields))
                           for fields in map(record_fields, records))
        except (InvalidArgumentError, TypeError, ValueError):
            self.store.put_many(records)
            return
        self._run("put_many", None, writes, lambda: self.store.put_many(records), _none)

    def get_many(self, ids: Iterable[str]) -> list[Any]:
        ids = list(ids)
        result: list[Any] = self._run("get_many", None, tuple(ids),
                                      lambda: self.store.get_many(ids), _tokens)
        return result

    def remove_many(self, ids: Iterable[str]) -> list[bool]:
        ids = list(ids)
        result: list[bool] = self._run("remove_many", None, tuple(ids),
                                       lambda: self.store.remove_many(ids), tuple)
        return result

    def search_many(self, queries: Any, k: int = 10) -> list[list[tuple[str, float]]]:
        queries = list(queries)
        result: list[list[tuple[str, float]]] = self._run(
            "search_many", None, (tuple(map(_query_key, queries)), k),
            lambda: self.store.search_many(queries, k),
            lambda value: tuple(_pairs(answer) for answer in value))
        return result

    def scan(self, batch_size: int = 1024) -> Iterator[Any]:
        """The store's scan, logged once exhausted: called before the first record is
        asked for, returned after the last; the result is the (id, fingerprint) pairs."""
        rec = self.recorder
        client = rec.client()
        start = rec.tick()
        seen: list[tuple[str, bytes | None]] = []
        try:
            for record in self.store.scan(batch_size):
                seen.append((record.id, _token(record)))
                yield record
        except BaseException:
            rec.add(_Raw(client, "scan", None, (batch_size,), None, start, None))
            raise
        rec.add(_Raw(client, "scan", None, (batch_size,), tuple(seen), start, rec.tick()))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


def _none(value: Any) -> None:
    return None


def _pairs(value: Any) -> Any:
    """A search result as a tuple of pairs (kept as returned when it is not a list of pairs,
    so the check reports what the store gave)."""
    try:
        return tuple((rid, score) for rid, score in value)
    except (TypeError, ValueError):
        return value


def _query_key(query: Any) -> tuple[float, ...]:
    """A query as the store sees it (float32 values), hashable for the history."""
    return tuple(float(v) for v in np.asarray(query, dtype=np.float64).astype(np.float32))


def _tokens(value: Any) -> tuple[bytes | None, ...]:
    return tuple(_token(record) for record in value)


def _token(value: Any) -> bytes | None:
    if value is None:
        return None
    if not isinstance(value, Record):
        # Another store's record type: fingerprint it through the contract's fields.
        return fingerprint(value.id, value.embedding, value.content, value.confidence)
    return record_fingerprint(value)


class StoreModel:
    """The store contract's sequential meaning for the checker: a :class:`ModelStore`.

    State: a frozenset of ``(id, fingerprint)`` pairs, a model's records made hashable
    for Lowe's cache. ``step`` restores a :class:`~warmtier.model.ModelStore` holding
    each record as (its embedding, its fingerprint as content), applies the operation as
    an :class:`~warmtier.testing.ops.Op` and compares what the model returns with what
    the store returned (a ``search`` as a valid top-k within SCORE_ATOL of the model's
    cosine). Steps are memoized per (state, operation), so the search restores a model
    once per pair it visits. Per-id operations partition by id; a history that holds
    ``len``, ``ids`` or ``search`` is checked whole (those see every id). ``search``
    needs ``embeddings`` (fingerprint to float32 embedding, as
    :meth:`HistoryRecorder.model` gives); ``scan`` is left out of the search (it is not
    linearizable; :func:`scan_problems` judges it).
    """

    #: Calls that see every id: a history holding one is checked whole.
    GLOBAL = frozenset({"len", "ids", "search", "search_many"})

    def __init__(
        self, embeddings: Mapping[bytes, np.ndarray[Any, np.dtype[np.float32]]] | None = None,
        dim: int | None = None,
    ) -> None:
        self.embeddings = embeddings if embeddings is not None else {}
        self.dim = dim
        self._steps: dict[tuple[State, int], tuple[Operation, State | None]] = {}

    def init(self) -> State:
        return frozenset()

    def step(self, state: State, op: Operation) -> State | None:
        memo = (state, id(op))
        known = self._steps.get(memo)
        if known is None:
            known = self._steps[memo] = (op, self._step(state, op))  # op kept: its id stays
        return known[1]

    def _step(self, state: State, op: Operation) -> State | None:
        model = ModelStore(dim=self._model_dim(op))
        for key, token in state:
            Op.put(key, self._embedding(token, model.dim), token).apply(model)
        try:
            got = self._apply_batch(op, model) if op.kind in BATCH_KINDS else \
                self._as_op(op).apply(model)
        except WarmTierError:  # the model refuses the call: it cannot have returned
            return state if op.pending else None
        if not op.pending and not self._agrees(op, got, model):
            return None
        return frozenset((rec.id, rec.content) for rec in model.scan())

    def _as_op(self, op: Operation) -> Op:
        """The vocabulary's operation for a history's (a put writes its fingerprint as
        content, with the embedding the recorder saw)."""
        if op.kind == "search":
            return Op.search(op.args[0], op.args[1])
        if op.kind == "put":
            return Op.put(op.args[0], self._embedding(op.args[1], self._model_dim(op)),
                          op.args[1])
        return Op.on(op.kind, op.args[0] if op.args else "")

    def _apply_batch(self, op: Operation, model: ModelStore) -> Any:
        """A batch call as its loop of single calls, all at one point: what it returns,
        in the history's terms (a record as its fingerprint)."""
        if op.kind == "put_many":
            for id, token in op.args:
                Op.put(id, self._embedding(token, model.dim), token).apply(model)
            return None
        if op.kind == "get_many":
            return tuple(None if (r := model.get(id)) is None else r.content for id in op.args)
        if op.kind == "remove_many":
            return tuple(model.remove(id) for id in op.args)
        return tuple(model.scan())  # search_many: judged against the records

    def _model_dim(self, op: Operation) -> int:
        """The store's ``dim``: as given, else that of the embeddings put, else of the
        query searched (1 for a history of neither)."""
        if self.dim is None:
            known = next((len(e) for e in self.embeddings.values()), None)
            query = (len(op.args[0]) if op.kind == "search" else
                     len(op.args[0][0]) if op.kind == "search_many" and op.args[0] else 1)
            return known or query
        return self.dim

    def _embedding(self, token: bytes, dim: int) -> Any:
        """The embedding put with ``token`` (zeros for a history that does not say)."""
        found = self.embeddings.get(token)
        return found if found is not None else np.zeros(dim, np.float32)

    def _agrees(self, op: Operation, got: Any, model: ModelStore) -> bool:
        """Did the store return what the model did (``got``, the model after the call)?"""
        kind, result = op.kind, op.result
        if kind == "get":
            return bool(result == (None if got is None else got.content))
        if kind == "ids":
            return bool(result == frozenset(got))
        if kind == "search":
            return _search_fits(result, op.args, list(model.scan()))
        if kind == "search_many":
            queries, k = op.args
            return isinstance(result, tuple) and len(result) == len(queries) and all(
                _search_fits(answer, (query, k), list(got))
                for query, answer in zip(queries, result, strict=True))
        return bool(result == got)

    def partition(self, history: Sequence[Operation]) -> list[list[Operation]]:
        """Independent parts: the operations on each set of ids that batch calls join
        (one part per id without them); the whole history when a call sees every id."""
        history = [op for op in history if op.kind != "scan"]
        if any(op.kind in self.GLOBAL for op in history):
            return [list(history)]
        root: dict[str, str] = {}

        def find(key: str) -> str:
            while root.setdefault(key, key) != key:
                key = root[key] = root[root[key]]
            return key

        keyed = [(op, _keys(op)) for op in history]
        for _, keys in keyed:
            for key in keys[1:]:
                root[find(key)] = find(keys[0])
        parts: dict[str, list[Operation]] = {}
        for op, keys in keyed:
            parts.setdefault(find(keys[0]) if keys else "", []).append(op)
        return list(parts.values())

    def unexplained(self, history: Sequence[Operation]) -> list[Operation]:
        """Observations that the calls of ``history`` cannot account for: an id seen
        present (a value read, ``True`` from ``remove`` or ``in``, listed by ``ids`` or
        ``search`` with its score) with no put of it (of that value) invoked before the
        observation returned and not surely removed since; an id seen absent (``None``,
        ``False``, left out of ``ids``) after a put of it returned, with no remove that
        could have come between; a ``len`` above the number of ids put. So a minimal
        counterexample keeps the puts AND the removes that a wrong observation
        contradicts."""
        puts: dict[str, list[Operation]] = {}
        removes: dict[str, list[Operation]] = {}
        for op in _single_writes(history):
            (puts if op.kind == "put" else removes).setdefault(op.args[0], []).append(op)

        def present(key: str, op: Operation, fits: Callable[[Operation], bool]) -> bool:
            return any(
                p.call < op.end and fits(p) and not any(
                    p.end < r.call and r.end < op.call for r in removes.get(key, ()))
                for p in puts.get(key, ())
            )

        def absent(key: str, op: Operation) -> bool:
            return all(
                any(r is not op and r.end > p.call and r.call < op.end
                    for r in removes.get(key, ()))
                for p in puts.get(key, ()) if p.end < op.call
            )

        return [op for op in history
                if not op.pending and not self._explained(op, present, absent, puts)]

    def _explained(
        self,
        op: Operation,
        present: Callable[[str, Operation, Callable[[Operation], bool]], bool],
        absent: Callable[[str, Operation], bool],
        puts: Mapping[str, list[Operation]],
    ) -> bool:
        kind, result = op.kind, op.result
        anything: Callable[[Operation], bool] = lambda p: True  # noqa: E731
        if kind in ("get_many", "remove_many", "search_many") and isinstance(result, tuple):
            return all(self._explained(single, present, absent, puts)
                       for single in _single_reads(op))
        if kind in ("get", "contains", "remove"):
            key = op.args[0]
            if result is None or result is False:
                return absent(key, op)
            if kind == "get":
                return present(key, op, lambda p: p.args[1] == result)
            return present(key, op, anything)
        if kind == "len":
            return bool(result <= sum(any(p.call < op.end for p in ops) for ops in puts.values()))
        if kind == "ids":
            return all(present(k, op, anything) for k in result) and all(
                absent(k, op) for k in puts if k not in result)
        if kind == "search":
            listed = {_first(pair) for pair in result}
            short = len(result) < op.args[1]  # fewer than k: every id left out is absent
            return all(present(_first(pair), op, self._scores(op, pair)) for pair in result) \
                and not (short and any(not absent(k, op) for k in puts if k not in listed))
        return True

    def _scores(self, op: Operation, pair: Any) -> Callable[[Operation], bool]:
        """Does a put give ``pair`` (id, score) for the query of search ``op``?"""
        query = np.asarray(op.args[0], dtype=np.float32)

        def fits(put: Operation) -> bool:
            embedding = self.embeddings.get(put.args[1])
            if embedding is None:
                return True
            (_, score), = cosine_scores(query, [Record(put.args[0], embedding, b"", 1.0)])
            try:
                return abs(float(pair[1]) - score) <= SCORE_ATOL
            except (TypeError, ValueError, IndexError):
                return True

        return fits

    def describe_state(self, state: State) -> str:
        return "{" + ", ".join(f"{k!r}: {v.hex()[:8]}" for k, v in sorted(state)) + "}"


def _keys(op: Operation) -> list[str]:
    """The ids an operation touches (a batch's every id)."""
    if op.kind == "put_many":
        return [id for id, _ in op.args]
    if op.kind in ("get_many", "remove_many"):
        return list(op.args)
    return [op.args[0]]


def _single_writes(history: Sequence[Operation]) -> Iterator[Operation]:
    """The puts and removes of ``history``, a batch's as single ones with its stamps."""
    for op in history:
        if op.kind in ("put", "remove"):
            yield op
        elif op.kind == "put_many":
            for id, token in op.args:
                yield Operation(op.client, "put", (id, token), None, op.call, op.ret)
        elif op.kind == "remove_many":
            results = op.result if isinstance(op.result, tuple) else (None,) * len(op.args)
            for id, removed in zip(op.args, results, strict=False):
                yield Operation(op.client, "remove", (id,), removed, op.call, op.ret)


def _single_reads(op: Operation) -> Iterator[Operation]:
    """A batch's observations as single calls with its stamps: get_many's reads,
    search_many's searches, remove_many's answers (a False for an id the batch already
    removed says nothing, and is left out)."""
    if op.kind in ("get_many", "remove_many"):
        kind = op.kind.removesuffix("_many")
        for j, (id, result) in enumerate(zip(op.args, op.result, strict=False)):
            if not (kind == "remove" and result is False and id in op.args[:j]):
                yield Operation(op.client, kind, (id,), result, op.call, op.ret)
        return
    queries, k = op.args
    for query, answer in zip(queries, op.result, strict=False):
        yield Operation(op.client, "search", (query, k), answer, op.call, op.ret)


def _search_fits(result: Any, args: tuple[Any, ...], records: list[Record]) -> bool:
    """Is ``result`` a valid ``search(*args)`` answer over ``records`` (the sequential
    suites' judgement: top-k by cosine, ties by id, scores within SCORE_ATOL)?"""
    query, k = args
    try:
        assert_search_matches(list(result), query, k, records)
    except (StoreMismatch, TypeError, ValueError):
        return False
    return True


def _first(pair: Any) -> Any:
    try:
        return pair[0]
    except (TypeError, IndexError, KeyError):
        return pair


# -- scan: weakly consistent ------------------------------------------------------------


def _surely_live(key: str, scan: Operation, history: Sequence[Operation]) -> bool:
    """Live for the whole scan in every linearization: a put of ``key`` returned before
    the scan began, and no remove of it that could take effect after that put invoked
    before the scan returned."""
    removes = [op for op in history if op.kind == "remove" and op.args[0] == key
               and op.call < scan.end]
    return any(
        op.kind == "put" and op.args[0] == key and not op.pending and op.end < scan.call
        and all(r.end < op.call for r in removes)
        for op in history
    )


def scan_problems(history: Sequence[Operation]) -> list[str]:
    """Where a ``scan`` of ``history`` broke the contract's weak consistency: a record live
    for the whole scan not yielded exactly once, a record yielded twice, or a yielded
    record equal to no value put for its id (before the scan returned)."""
    problems: list[str] = []
    keys = {op.args[0] for op in history if op.kind == "put"}
    for scan in history:
        if scan.kind != "scan" or scan.pending:
            continue
        what = f"thread {scan.client} {scan.describe()}"
        yielded = [rid for rid, _ in scan.result]
        twice = sorted({rid for rid in yielded if yielded.count(rid) > 1})
        if twice:
            problems.append(f"{what}: yielded {twice} more than once (expected at most once)")
        for rid, token in scan.result:
            written = {op.args[1] for op in history if op.kind == "put" and op.args[0] == rid
                       and op.call < scan.end}
            if token not in written:
                problems.append(f"{what}: yielded a record of {rid!r} that no put of it wrote "
                                "(torn, mixed, or never put)")
        missed = sorted(k for k in keys - set(yielded) if _surely_live(k, scan, history))
        if missed:
            problems.append(f"{what}: missed {missed}, live for the whole scan (expected "
                            "each exactly once)")
    return problems


def check_history(history: Sequence[Operation], model: StoreModel | None = None) -> CheckResult:
    """Linearizability of every call but ``scan`` (with ``search`` judged against the
    model), and weak consistency of every ``scan``: one verdict, one message."""
    model = model if model is not None else StoreModel()
    result = check(history, model)
    problems = scan_problems(history)
    if problems:
        result.ok = False
        ops = format_history(op for op in history if op.kind in ("scan", "put", "remove"))
        result.message = "\n".join(
            [*([result.message] if result.message else []), *problems,
             "puts, removes and scans of the history:", ops]
        )
    return result
