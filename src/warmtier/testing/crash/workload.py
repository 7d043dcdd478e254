"""The seeded crash workload: a deterministic stream of numbered operations (single calls,
:class:`~warmtier.testing.ops.Op`, and, for a store that declares them, batch calls,
:class:`~warmtier.testing.crash.batches.Batch`) that the child and the parent both
regenerate from the seed and the store (the oracle log carries only numbers)."""

from __future__ import annotations

import os
from collections.abc import Collection, Iterator
from typing import Any

import numpy as np

from warmtier.testing.contract import snapshot
from warmtier.testing.crash.batches import BATCH_KINDS, Batch, Step, batch_kinds
from warmtier.testing.crash.timeline import Timeline
from warmtier.testing.ops import DURABLE, MUTATIONS, Op, State, States
from warmtier.testing.subject import Subject

__all__ = [
    "BATCH_KINDS",
    "DIM",
    "DURABLE",
    "KINDS",
    "MUTATIONS",
    "Batch",
    "Op",
    "State",
    "States",
    "Step",
    "Timeline",
    "apply",
    "batch_kinds",
    "create_options",
    "make_store",
    "operations",
    "snapshot",
]

#: Embedding length of every crash workload (small: the files stay a few pages).
DIM = 4

#: Single operation kinds. ``put`` adds a new id, ``replace`` overwrites a live one,
#: ``grow`` is a put whose content is large enough to make an arena grow.
KINDS = ("put", "replace", "remove", "grow", "flush", "compact")

_WEIGHTS = {"put": 30, "replace": 30, "remove": 18, "grow": 4, "flush": 6, "compact": 2}
#: Added to the draw for a store that declares the batch call (about one operation in six).
_BATCH_WEIGHTS = {"put_many": 8, "remove_many": 5, "get_many": 3}
#: Batch sizes are 1..this (and 0, one batch in twenty).
_MAX_BATCH = 6
#: The chance that a batch's id is a live one (otherwise absent), and of a duplicate.
_LIVE_ID = {"put_many": 0.5, "remove_many": 0.9, "get_many": 0.7}
_DUPLICATE = 0.1
_POOL = 24  # ids are drawn from a small pool, so replaces and removes hit live ids


def operations(seed: int, count: int | None = None,
               batches: Collection[str] = ()) -> Iterator[Step]:
    """The workload of ``seed``: ``count`` operations (forever when ``None``), with the
    batch calls of ``batches`` (:func:`batch_kinds` of the store) among them.

    The stream tracks which ids it made live, so ``replace`` and ``remove`` name live ids
    and ``put`` a fresh one; when no id is live, they turn into puts. Without
    ``batches`` the stream is the one the suite drew before batches existed.

    >>> [op.kind for op in operations(7, 4)] == [op.kind for op in operations(7, 4)]
    True
    """
    rng = np.random.default_rng(seed)
    kinds = [*_WEIGHTS, *(k for k in BATCH_KINDS if k in batches)]
    weights = np.array([_WEIGHTS.get(k) or _BATCH_WEIGHTS[k] for k in kinds], np.float64)
    weights /= weights.sum()
    live: list[str] = []
    index = 0
    while count is None or index < count:
        kind = kinds[int(rng.choice(len(kinds), p=weights))]
        if kind in BATCH_KINDS:
            yield _batch(rng, kind, live, index)
        else:
            yield _single(rng, kind, live, index)
        index += 1


def _free(live: list[str]) -> list[str]:
    return [f"id-{n:02d}" for n in range(_POOL) if f"id-{n:02d}" not in live]


def _single(rng: np.random.Generator, kind: str, live: list[str], index: int) -> Op:
    """One single call of ``kind`` (updating ``live``)."""
    free = _free(live)
    if kind in ("replace", "remove") and not live:
        kind = "put"
    if kind in ("put", "grow") and not free:
        kind = "replace"
    if kind in DURABLE:
        return Op.on(kind, index=index)
    if kind == "remove":
        return Op.on(kind, live.pop(int(rng.integers(len(live)))), index=index)
    if kind == "replace":
        ident = live[int(rng.integers(len(live)))]
    else:
        ident = free[int(rng.integers(len(free)))]
        live.append(ident)
    return _put(rng, kind, ident, index)


def _put(rng: np.random.Generator, kind: str, ident: str, index: int) -> Op:
    """A put of ``ident`` with a drawn record (``grow``: content of 20-70 KB)."""
    if kind == "grow":
        size = int(rng.integers(20_000, 70_000))
    else:
        size = int(rng.choice([0, int(rng.integers(1, 64)), int(rng.integers(64, 3000))],
                              p=[0.1, 0.6, 0.3]))
    emb = tuple(float(x) for x in rng.standard_normal(DIM).astype(np.float32))
    content = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
    conf = float(np.float32(rng.random()))
    return Op.put(ident, emb, content, conf, kind=kind, index=index)


def _batch(rng: np.random.Generator, kind: str, live: list[str], index: int) -> Batch:
    """A batch of ``kind`` (updating ``live``): 0-6 ids, live or absent, now and then one
    twice (a later duplicate wins, as in a loop)."""
    size = 0 if rng.random() < 0.05 else int(rng.integers(1, _MAX_BATCH + 1))
    parts: list[Op] = []
    for _ in range(size):
        ident = _batch_id(rng, kind, live, [op.id for op in parts])
        if kind == "put_many":
            parts.append(_put(rng, "replace" if ident in live else "put", ident, -1))
            if ident not in live:
                live.append(ident)
        elif kind == "remove_many":
            parts.append(Op.on("remove", ident))
            if ident in live:
                live.remove(ident)
        else:
            parts.append(Op.on("get", ident))
    return Batch(index, kind, tuple(parts))


def _batch_id(rng: np.random.Generator, kind: str, live: list[str], chosen: list[str]) -> str:
    """An id for the next record of a batch: one already in it (a duplicate), else a live
    or an absent one (the chances of :data:`_DUPLICATE` and :data:`_LIVE_ID`)."""
    if chosen and rng.random() < _DUPLICATE:
        return chosen[int(rng.integers(len(chosen)))]
    free = _free(live)
    pool = live if (live and rng.random() < _LIVE_ID[kind]) or not free else free
    return pool[int(rng.integers(len(pool)))]


def apply(store: Any, op: Step) -> Any:
    """Run ``op`` against a store (or the model) through the public contract; what the
    call returns."""
    return op.apply(store)


def create_options(store_class: type[Any]) -> dict[str, Any]:
    """Creation options that make a store start tiny, so a short workload grows its files:
    ``dim``, and the sizing hints the store takes."""
    hints = Subject.of(store_class).options(initial_capacity=8,
                                                  initial_content_bytes=4096)
    return {"dim": DIM, **hints}


def make_store(store_class: type[Any], path: str | os.PathLike[str]) -> Any:
    """A fresh store for a crash workload in ``path``."""
    return store_class.create(path, **create_options(store_class))
