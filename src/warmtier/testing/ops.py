"""One operation vocabulary for every harness: a contract call as a value (:class:`Op`),
its meaning on any store or the model (``apply``), the states a crash may leave (:class:`States`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from warmtier.model import ModelStore
from warmtier.records import Record

__all__ = ["DURABLE", "KINDS", "MUTATIONS", "PER_ID", "PUTS", "Op", "State", "States"]

#: Every call of the contract an operation can be.
KINDS = ("put", "remove", "get", "contains", "len", "ids", "search", "scan", "flush",
         "compact")
#: The calls on one id (the others see the whole store, or no record).
PER_ID = ("put", "remove", "get", "contains")
#: ``put`` and its named flavours: a crash workload calls a put of a live id ``replace``
#: and a put large enough to grow the arena ``grow`` (its kill points are spelled so).
PUTS = ("put", "replace", "grow")
#: The kinds that change records.
MUTATIONS = (*PUTS, "remove")
#: The contract's durability points among the kinds.
DURABLE = ("flush", "compact")

State = dict[str, Record]
"""The records of a store, by id."""


@dataclass(frozen=True)
class Op:
    """One call of the contract (porcupine's operation input).

    ``kind`` is one of :data:`KINDS` (or a flavour of put, :data:`PUTS`); ``id`` for the
    per-id calls; ``embedding``, ``content`` and ``confidence`` are the record a put
    writes; ``size`` the content size of a put whose value the harness picks when it runs
    it (:meth:`with_value`); ``query`` and ``k`` a search's; ``batch_size`` a scan's;
    ``index`` the place in a numbered stream (crash workloads), -1 when unnumbered.

    >>> from warmtier.model import ModelStore
    >>> model = ModelStore(dim=2)
    >>> Op.put("a", [1.0, 0.0], b"hi").apply(model)
    >>> Op.search([1.0, 0.0], k=1).apply(model), Op.on("get", "a").apply(model).content
    ([('a', 1.0)], b'hi')
    >>> Op.put("a", size=300)
    put('a', 300 B)
    """

    index: int = -1
    kind: str = ""
    id: str = ""
    embedding: tuple[float, ...] = ()
    content: bytes = b""
    confidence: float = 1.0
    size: int = 0
    query: tuple[float, ...] = ()
    k: int = 10
    batch_size: int = 1024

    def __post_init__(self) -> None:
        if self.kind not in KINDS and self.kind not in PUTS:
            raise ValueError(f"no operation {self.kind!r}; expected one of {KINDS}")

    # -- constructors ----------------------------------------------------------------

    @classmethod
    def put(cls, id: str, embedding: Any = (), content: bytes = b"", confidence: float = 1.0,
            *, size: int | None = None, kind: str = "put", index: int = -1) -> Op:
        """A put of that record; with ``size`` alone, a put whose value comes later."""
        emb = tuple(float(x) for x in np.asarray(embedding, dtype=np.float32).ravel())
        return cls(index, kind, id, emb, content, confidence, size or 0)

    @classmethod
    def on(cls, kind: str, id: str = "", *, index: int = -1) -> Op:
        """A call with no argument but an id: remove, get, contains, len, ids, flush,
        compact (and scan with its default batch)."""
        return cls(index, kind, id)

    @classmethod
    def search(cls, query: Any, k: int = 10) -> Op:
        q = tuple(float(x) for x in np.asarray(query, dtype=np.float32).ravel())
        return cls(kind="search", query=q, k=k)

    @classmethod
    def scan(cls, batch_size: int = 1024) -> Op:
        return cls(kind="scan", batch_size=batch_size)

    def with_value(self, embedding: Any, content: bytes, confidence: float) -> Op:
        """This put, writing that record (a harness's self-describing value)."""
        emb = tuple(float(x) for x in np.asarray(embedding, dtype=np.float32).ravel())
        return replace(self, embedding=emb, content=content, confidence=confidence)

    # -- meaning ---------------------------------------------------------------------

    @property
    def call(self) -> str:
        """The contract call: ``put`` for every flavour of put."""
        return "put" if self.kind in PUTS else self.kind

    def record(self) -> Record:
        """The value a put of this operation stores (bit-exact, as the model holds it)."""
        return Record(self.id, np.array(self.embedding, np.float32), self.content,
                      float(np.float32(self.confidence)))

    def apply(self, store: Any) -> Any:
        """Call this operation on ``store`` (any contract store, the model included) and
        return what the call returns (a scan's records as a list)."""
        call = self.call
        if call == "put":
            return store.put(self.id, np.array(self.embedding, np.float32), self.content,
                             self.confidence)
        if call in ("remove", "get"):
            return getattr(store, call)(self.id)
        if call == "contains":
            return self.id in store
        if call == "len":
            return len(store)
        if call == "search":
            return store.search(np.array(self.query, np.float32), self.k)
        if call == "scan":
            return list(store.scan(self.batch_size))
        return getattr(store, call)()  # ids, flush, compact

    def describe(self) -> str:
        """The call as a report shows it: ``#3 put('a', 300 B)``, ``search(q=[1.0, 0.0],
        k=2)``; the ``#`` number for a numbered stream only."""
        number = f"#{self.index} " if self.index >= 0 else ""
        if self.kind in PUTS:
            what = f"{self.id!r}, {len(self.content) if self.content else self.size} B"
        elif self.kind == "search":
            what = f"q={list(self.query)}, k={self.k}"
        elif self.kind == "scan":
            what = f"batch_size={self.batch_size}"
        else:
            what = repr(self.id) if self.id else ""
        return f"{number}{self.kind}({what})"

    __repr__ = describe


class States:
    """The model's state after each prefix of ``ops``: ``states[i]`` is the state after
    operations ``0 .. i-1`` (``states[0]`` is ``initial``), each computed by applying the
    operations to a :class:`~warmtier.model.ModelStore`; and the states a crash may leave.

    >>> ops = [Op.put("a", [1.0], b"x", index=0), Op.on("flush", index=1),
    ...        Op.on("remove", "a", index=2)]
    >>> states = States(ops)
    >>> [sorted(states[i]) for i in range(4)], states.kill_prefixes(2, True, strict=False)
    ([[], ['a'], ['a'], []], [2, 3])
    """

    def __init__(self, ops: Sequence[Op], initial: State | None = None) -> None:
        model = ModelStore(dim=_dim(ops, (initial or {}).values()))
        for rec in (initial or {}).values():
            model.put(rec.id, rec.embedding, rec.content, rec.confidence)
        self.ops = list(ops)
        self._states: list[State] = [dict(initial or {})]
        current = dict(self._states[0])
        for op in self.ops:
            if op.kind in MUTATIONS:
                op.apply(model)
                current = dict(current)
                got = model.get(op.id)
                if got is None:
                    current.pop(op.id, None)
                else:
                    current[op.id] = got
            self._states.append(current)

    def __getitem__(self, i: int) -> State:
        return self._states[i]

    def last_durable(self, completed: int) -> int:
        """The prefix length made durable by the last completed flush or compaction among
        the first ``completed`` operations (0 when there was none)."""
        for op in reversed(self.ops[:completed]):
            if op.kind in DURABLE:
                return op.index + 1
        return 0

    def kill_prefixes(self, completed: int, in_flight: bool, strict: bool) -> list[int]:
        """The prefix lengths a process kill may recover after ``completed`` operations.

        ``strict`` (no completed operation lost): ``completed``, and with an operation
        in flight also ``completed + 1``. Otherwise any prefix from the last completed
        durability point up to the last operation started."""
        last = completed + int(in_flight)
        if strict:
            return [completed, last] if in_flight else [completed]
        return list(range(self.last_durable(completed), last + 1))

    def power_loss_values(self, durable: int, started: int) -> dict[str, list[Record | None]]:
        """For each id touched since prefix ``durable``: every value a power cut may leave
        it with (its value as of ``durable``, or that of a later put or remove of it among
        the first ``started`` operations; ``None`` for absent)."""
        base = self[durable]
        allowed: dict[str, list[Record | None]] = {}
        for op in self.ops[durable:started]:
            if op.kind in MUTATIONS:
                values = allowed.setdefault(op.id, [base.get(op.id)])
                values.append(None if op.kind == "remove" else op.record())
        return allowed


def _dim(ops: Iterable[Op], records: Iterable[Record]) -> int:
    """The embedding length of the first record among ``records`` and ``ops`` (1 if none)."""
    for rec in records:
        return len(rec.embedding)
    return next((len(op.embedding) for op in ops if op.kind in PUTS and op.embedding), 1)
