"""Record a store's concurrent history, and the contract's sequential meaning as a checker model.

:class:`RecordingStore` wraps any contract store and logs every call with invoke and
return stamps from one shared logical clock; :class:`StoreModel` is the store contract
(``put``/``get``/``remove``/``in``/``len``/``ids``) in the terms of
:mod:`warmtier.testing.linearizability`. Values are compared by a fingerprint of the
whole record, so a torn or mixed read matches no write and fails the check.

>>> import numpy as np
>>> from warmtier.model import ModelStore
>>> from warmtier.testing.linearizability import check
>>> rec = HistoryRecorder()
>>> store = rec.wrap(ModelStore(dim=2))
>>> store.put("a", [1.0, 0.0], b"x"); store.get("a").content
b'x'
>>> check(rec.history(), StoreModel()).ok
True
"""

from __future__ import annotations

import hashlib
import itertools
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from warmtier.records import Record
from warmtier.testing.linearizability import Operation

__all__ = ["HistoryRecorder", "RecordingStore", "StoreModel", "fingerprint"]

State = frozenset[tuple[str, bytes]]


def fingerprint(id: str, embedding: Any, content: bytes | str, confidence: float) -> bytes:
    """A 12-byte digest of a record as the store must return it (float32, UTF-8 content)."""
    emb = np.asarray(embedding, dtype=np.float32)
    data = content.encode("utf-8") if isinstance(content, str) else bytes(content)
    h = hashlib.blake2b(digest_size=12)
    h.update(id.encode("utf-8", "surrogatepass"))
    h.update(b"\0")
    h.update(emb.tobytes())
    h.update(np.float32(confidence).tobytes())
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
    """Collects operations from any number of threads; one logical clock for all stamps."""

    def __init__(self) -> None:
        self._clock = itertools.count()
        self._ops: list[_Raw] = []
        self._clients: dict[int, int] = {}
        self._labels: dict[bytes, str] = {}
        self._lock = threading.Lock()

    def wrap(self, store: Any) -> RecordingStore:
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

    def label(self, token: bytes, content_len: int) -> None:
        with self._lock:
            self._labels.setdefault(token, f"v{len(self._labels)}({content_len}B)")

    def tick(self) -> int:
        return next(self._clock)

    def add(self, raw: _Raw) -> None:
        self._ops.append(raw)  # list.append is atomic under the GIL

    def __len__(self) -> int:
        return len(self._ops)

    def _show(self, value: Any) -> str:
        if isinstance(value, bytes):
            return self._labels.get(value, f"<unwritten value {value.hex()[:8]}>")
        if isinstance(value, frozenset):
            return "{" + ", ".join(sorted(repr(v) for v in value)) + "}"
        return repr(value)

    def history(self) -> list[Operation]:
        """The operations recorded so far, as checker operations with readable labels."""
        out = []
        for raw in list(self._ops):
            args: tuple[Any, ...] = () if raw.key is None else (raw.key,)
            shown = f"{raw.kind}({raw.key!r}" if raw.key is not None else f"{raw.kind}("
            if raw.kind == "put":
                args = (raw.key, raw.arg)
                shown += f", {self._show(raw.arg)}"
            shown += ")"
            result = "<raised, effect unknown>" if raw.ret is None else self._show(raw.result)
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
        token = fingerprint(id, embedding, content, confidence)
        size = len(content.encode("utf-8") if isinstance(content, str) else content)
        self.recorder.label(token, size)
        self._run(
            "put", id, token, lambda: self.store.put(id, embedding, content, confidence), _none
        )

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

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


def _none(value: Any) -> None:
    return None


def _token(value: Any) -> bytes | None:
    if value is None:
        return None
    if not isinstance(value, Record):
        # Another store's record type: fingerprint it through the contract's fields.
        return fingerprint(value.id, value.embedding, value.content, value.confidence)
    return record_fingerprint(value)


class StoreModel:
    """The store contract's sequential meaning for the checker.

    State: a frozenset of ``(id, fingerprint)`` pairs. Per-id operations partition by
    id; a history that holds ``len`` or ``ids`` is checked whole (those see every id).
    """

    GLOBAL = frozenset({"len", "ids"})

    def init(self) -> State:
        return frozenset()

    def step(self, state: State, op: Operation) -> State | None:
        kind = op.kind
        if kind == "len":
            return state if op.pending or op.result == len(state) else None
        if kind == "ids":
            return state if op.pending or op.result == frozenset(k for k, _ in state) else None
        key = op.args[0]
        current = next((v for k, v in state if k == key), None)
        if kind == "put":
            rest = state if current is None else state - {(key, current)}
            return rest | {(key, op.args[1])}
        if kind == "get":
            return state if op.pending or op.result == current else None
        if kind == "contains":
            return state if op.pending or op.result == (current is not None) else None
        if kind == "remove":
            if op.pending:
                return state if current is None else state - {(key, current)}
            if op.result != (current is not None):
                return None
            return state if current is None else state - {(key, current)}
        raise ValueError(f"StoreModel has no operation {kind!r}")

    def partition(self, history: Sequence[Operation]) -> list[list[Operation]]:
        if any(op.kind in self.GLOBAL for op in history):
            return [list(history)]
        parts: dict[str, list[Operation]] = {}
        for op in history:
            parts.setdefault(op.args[0], []).append(op)
        return list(parts.values())

    def unexplained(self, history: Sequence[Operation]) -> list[Operation]:
        """Positive observations with no put behind them in ``history``: a value read that
        no put wrote, a ``True`` from ``remove`` or ``in`` for an id never put, ids
        listed by ``ids`` never put, a ``len`` above the number of ids ever put."""
        written = {op.args[1] for op in history if op.kind == "put"}
        keys = {op.args[0] for op in history if op.kind == "put"}
        out = []
        for op in history:
            if op.pending:
                continue
            if (
                (op.kind == "get" and op.result is not None and op.result not in written)
                or (op.kind in ("remove", "contains") and op.result and op.args[0] not in keys)
                or (op.kind == "len" and op.result > len(keys))
                or (op.kind == "ids" and not op.result <= keys)
            ):
                out.append(op)
        return out

    def describe_state(self, state: State) -> str:
        return "{" + ", ".join(f"{k!r}: {v.hex()[:8]}" for k, v in sorted(state)) + "}"
