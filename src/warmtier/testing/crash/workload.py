"""The seeded crash workload: a deterministic stream of numbered :class:`~warmtier.testing.ops.Op`
that the child and the parent both regenerate from the seed (the oracle log carries only numbers)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import numpy as np

from warmtier.testing.contract import snapshot
from warmtier.testing.ops import DURABLE, MUTATIONS, Op, State, States
from warmtier.testing.subject import Subject

__all__ = [
    "DIM",
    "DURABLE",
    "KINDS",
    "MUTATIONS",
    "Op",
    "State",
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

_WEIGHTS = {"put": 30, "replace": 30, "remove": 18, "grow": 4, "flush": 6, "compact": 2}
_POOL = 24  # ids are drawn from a small pool, so replaces and removes hit live ids


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
        if kind in DURABLE:
            yield Op.on(kind, index=index)
        elif kind == "remove":
            ident = live.pop(int(rng.integers(len(live))))
            yield Op.on(kind, ident, index=index)
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
            yield Op.put(ident, emb, content, conf, kind=kind, index=index)
        index += 1


def apply(store: Any, op: Op) -> None:
    """Run ``op`` against a store (or the model) through the public contract."""
    op.apply(store)


def create_options(store_class: type[Any]) -> dict[str, Any]:
    """Creation options that make a store start tiny, so a short workload grows its files:
    ``dim``, and the sizing hints the store takes."""
    hints = Subject.of(store_class).options(initial_capacity=8,
                                                  initial_content_bytes=4096)
    return {"dim": DIM, **hints}


def make_store(store_class: type[Any], path: str | os.PathLike[str]) -> Any:
    """A fresh store for a crash workload in ``path``."""
    return store_class.create(path, **create_options(store_class))
