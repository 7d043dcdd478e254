"""The seeded crash workload: a deterministic stream of store operations and its model.

The child process and the parent regenerate the same stream from the seed, so the oracle
log only has to carry operation numbers; the parent replays them on the model.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from warmtier.model import ModelStore
from warmtier.records import Record
from warmtier.testing.contract import snapshot
from warmtier.testing.subject import Subject

__all__ = [
    "DIM",
    "KINDS",
    "MUTATIONS",
    "Op",
    "States",
    "apply",
    "create_options",
    "make_store",
    "operations",
    "snapshot",
]

#: Embedding length of every crash workload (small: the files stay a few pages).
DIM = 4

#: Operation kinds. ``put`` adds a new id, ``replace`` overwrites a live one, ``grow`` is
#: a put whose content is large enough to make an arena grow.
KINDS = ("put", "replace", "remove", "grow", "flush", "compact")
#: The kinds that change the records (the others are durability points or no-ops).
MUTATIONS = ("put", "replace", "remove", "grow")
#: The kinds that are durability points in the contract.
DURABLE = ("flush", "compact")

_WEIGHTS = {"put": 30, "replace": 30, "remove": 18, "grow": 4, "flush": 6, "compact": 2}
_POOL = 24  # ids are drawn from a small pool, so replaces and removes hit live ids


@dataclass(frozen=True)
class Op:
    """One operation of the stream: number, kind, and the record a put writes."""

    index: int
    kind: str
    id: str = ""
    embedding: tuple[float, ...] = ()
    content: bytes = b""
    confidence: float = 1.0

    def record(self) -> Record:
        """The value a put of this operation stores (bit-exact, as the model holds it)."""
        return Record(self.id, np.array(self.embedding, np.float32), self.content,
                      float(np.float32(self.confidence)))

    def describe(self) -> str:
        if self.kind in ("flush", "compact"):
            return f"#{self.index} {self.kind}()"
        if self.kind == "remove":
            return f"#{self.index} remove({self.id!r})"
        return f"#{self.index} {self.kind} {self.id!r} ({len(self.content)} B)"


def operations(seed: int, count: int | None = None) -> Iterator[Op]:
    """The workload of ``seed``: ``count`` operations (forever when ``None``).

    The stream tracks which ids it made live, so ``replace`` and ``remove`` name live ids
    and ``put`` a fresh one; when no id is live, they turn into puts.

    >>> [op.kind for op in operations(7, 4)] == [op.kind for op in operations(7, 4)]
    True
    """
    rng = np.random.default_rng(seed)
    kinds = list(_WEIGHTS)
    weights = np.array([_WEIGHTS[k] for k in kinds], dtype=np.float64)
    weights /= weights.sum()
    live: list[str] = []
    index = 0
    while count is None or index < count:
        kind = kinds[int(rng.choice(len(kinds), p=weights))]
        free = [f"id-{n:02d}" for n in range(_POOL) if f"id-{n:02d}" not in live]
        if kind in ("replace", "remove") and not live:
            kind = "put"
        if kind in ("put", "grow") and not free:
            kind = "replace"
        if kind in ("flush", "compact"):
            yield Op(index, kind)
        elif kind == "remove":
            ident = live.pop(int(rng.integers(len(live))))
            yield Op(index, kind, ident)
        else:
            if kind == "replace":
                ident = live[int(rng.integers(len(live)))]
            else:
                ident = free[int(rng.integers(len(free)))]
                live.append(ident)
            if kind == "grow":
                size = int(rng.integers(20_000, 70_000))
            else:
                size = int(rng.choice([0, int(rng.integers(1, 64)), int(rng.integers(64, 3000))],
                                      p=[0.1, 0.6, 0.3]))
            emb = tuple(float(x) for x in rng.standard_normal(DIM).astype(np.float32))
            content = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
            conf = float(np.float32(rng.random()))
            yield Op(index, kind, ident, emb, content, conf)
        index += 1


def apply(store: Any, op: Op) -> None:
    """Run ``op`` against a store (or the model) through the public contract."""
    if op.kind in ("put", "replace", "grow"):
        store.put(op.id, np.array(op.embedding, np.float32), op.content, op.confidence)
    elif op.kind == "remove":
        store.remove(op.id)
    elif op.kind == "flush":
        store.flush()
    elif op.kind == "compact":
        store.compact()
    else:  # pragma: no cover - the generator makes no other kind
        raise ValueError(f"unknown operation kind {op.kind!r}")


State = dict[str, Record]


class States:
    """The model's state after each prefix of a workload: ``states[i]`` is the state
    after operations ``0 .. i-1`` (``states[0]`` is ``initial``)."""

    def __init__(self, ops: list[Op], initial: State | None = None) -> None:
        model = ModelStore(dim=DIM)
        for rec in (initial or {}).values():
            model.put(rec.id, rec.embedding, rec.content, rec.confidence)
        self.ops = ops
        self._states: list[State] = [dict(initial or {})]
        current = dict(self._states[0])
        for op in ops:
            if op.kind in MUTATIONS:
                apply(model, op)
                current = dict(current)
                if op.kind == "remove":
                    current.pop(op.id, None)
                else:
                    got = model.get(op.id)
                    assert got is not None
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


def create_options(store_class: type[Any]) -> dict[str, Any]:
    """Creation options that make a store start tiny, so a short workload grows its files:
    ``dim``, and the sizing hints the store takes."""
    hints = Subject.of(store_class).options(initial_capacity=8,
                                                  initial_content_bytes=4096)
    return {"dim": DIM, **hints}


def make_store(store_class: type[Any], path: str | os.PathLike[str]) -> Any:
    """A fresh store for a crash workload in ``path``."""
    return store_class.create(path, **create_options(store_class))
