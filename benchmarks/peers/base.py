"""The interface every benchmarked store speaks, and its defaults.

Rows are ``(id, embedding float32[dim], content bytes)``; ``get`` returns
``(embedding, content)`` or ``None``; ``scan`` yields rows; ``search`` returns the top-k
``(id, cosine)`` pairs, best first. Durability: ``flush`` is each store's sync point;
no peer syncs per operation (LMDB ``sync=False``, SQLite WAL ``synchronous=NORMAL``),
so puts compare like for like.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from typing import ClassVar

import numpy as np
import numpy.typing as npt

Vec = npt.NDArray[np.float32]
Row = tuple[str, Vec, bytes]


class Peer:
    """Base class: subclasses implement the abstract methods, override the rest if they
    have something better."""

    name: ClassVar[str] = "?"
    family: ClassVar[str] = "?"
    batched: ClassVar[bool] = False  # put via put_many in batches
    persistent: ClassVar[bool] = True

    def __init__(self, path: str, dim: int) -> None:
        self.path = path
        self.dim = dim

    @classmethod
    def version(cls) -> str:
        return "?"

    @classmethod
    def create(cls, path: str, dim: int) -> Peer:
        raise NotImplementedError

    @classmethod
    def open(cls, path: str, dim: int) -> Peer:
        raise NotImplementedError

    def put(self, id: str, emb: Vec, content: bytes) -> None:
        raise NotImplementedError

    def put_many(self, rows: list[Row]) -> None:
        for id, emb, content in rows:
            self.put(id, emb, content)

    def get(self, id: str) -> tuple[Vec, bytes] | None:
        raise NotImplementedError

    def remove(self, id: str) -> bool:
        raise NotImplementedError

    def remove_many(self, ids: Iterable[str]) -> None:
        for id in ids:
            self.remove(id)

    def scan(self) -> Iterator[Row]:
        raise NotImplementedError

    def search(self, query: Vec, k: int = 10) -> list[tuple[str, float]]:
        raise NotImplementedError

    def compact(self) -> None:
        raise NotImplementedError

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def file_bytes(self) -> int | None:
        """Apparent bytes of the store's files (None for in-memory stores)."""
        total = 0
        for dirpath, _dirs, files in os.walk(self.path):
            for f in files:
                with contextlib.suppress(FileNotFoundError):
                    total += os.stat(os.path.join(dirpath, f)).st_size
        return total


def top_k(ids: list[str], scores: npt.NDArray[np.float64], k: int) -> list[tuple[str, float]]:
    """Best ``k`` by score, ties by id ascending (the contract's order)."""
    if len(ids) == 0:
        return []
    k = min(k, len(ids))
    part = np.argpartition(-scores, k - 1)[:k] if k < len(ids) else np.arange(len(ids))
    pairs = [(ids[i], float(scores[i])) for i in part.tolist()]
    pairs.sort(key=lambda p: (-p[1], p[0]))
    return pairs


def cosine(matrix: npt.NDArray[np.float32], query: Vec) -> npt.NDArray[np.float64]:
    """Cosine of each row with ``query``; zero rows score 0."""
    q = query.astype(np.float32) / np.float32(np.linalg.norm(query))
    dots = matrix @ q
    norms = np.linalg.norm(matrix, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(norms > 0, dots / norms, 0.0)
    return out.astype(np.float64)
