"""Deterministic workloads: ids like ``mem-000123``, size mixes, faker text and embeddings.

Record ``i`` of a :class:`Workload` is a pure function of ``(seed, i)``, so a suite can
regenerate the expected value of any record instead of holding millions in memory.

>>> w = Workload(n=3, dim=4, seed=1)
>>> w.id(2)
'mem-000002'
>>> w.content(2) == Workload(n=3, dim=4, seed=1).content(2)
True
>>> w.embeddings(0, 3).shape
(3, 4)
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

__all__ = [
    "CHUNK",
    "FRAGMENTATION_MIX",
    "TEXT_MIX",
    "SizeClass",
    "SizeMix",
    "Workload",
    "corpus",
    "fingerprints",
]

CHUNK = 1024
"""Embeddings are generated in chunks of this many rows, one RNG stream per chunk."""


@dataclass(frozen=True)
class SizeClass:
    """A share ``weight`` of the records with content sizes uniform in ``[low, high]``."""

    weight: float
    low: int
    high: int
    label: str


SizeMix = tuple[SizeClass, ...]

TEXT_MIX: SizeMix = (
    SizeClass(0.89, 80, 120, "~100 B"),
    SizeClass(0.10, 820, 1228, "~1 KB"),
    SizeClass(0.01, 4096, 6144, "~5 KB"),
)
"""Realistic memory text: 89% ~100 B, 10% ~1 KB, 1% ~5 KB (each size +-20%)."""

FRAGMENTATION_MIX: SizeMix = (
    SizeClass(0.40, 0, 0, "empty"),
    SizeClass(0.40, 1, 10, "1-10 B"),
    SizeClass(0.10, 100, 100, "100 B"),
    SizeClass(0.05, 1024, 1024, "1 KB"),
    SizeClass(0.04, 10 * 1024, 10 * 1024, "10 KB"),
    SizeClass(0.01, 100 * 1024, 100 * 1024, "100 KB"),
)
"""The allocator's enemy: 40% empty, 40% 1-10 B, 10% 100 B, 5% 1 KB, 4% 10 KB, 1% 100 KB."""

_CORPUS_BYTES = 1 << 18
_WORDS = ["memory", "tier", "store", "record", "vector", "query", "recall", "context", "agent", "summary", "note", "event", "user", "session", "token", "model", "answer", "source", "fact", "detail", "update", "reason", "plan", "result"]


@functools.cache
def corpus(seed: int = 0) -> bytes:
    """About 256 KiB of realistic English text (faker paragraphs; a word salad without it)."""
    parts: list[str] = []
    size = 0
    try:
        from faker import Faker

        fake = Faker("en_US")
        fake.seed_instance(seed)
        while size < _CORPUS_BYTES:
            text = fake.paragraph(nb_sentences=8) + " "
            parts.append(text)
            size += len(text)
    except ImportError:  # pragma: no cover - faker is in the test extra
        rng = np.random.default_rng(seed)
        while size < _CORPUS_BYTES:
            text = " ".join(_WORDS[j] for j in rng.integers(0, len(_WORDS), 64)) + ". "
            parts.append(text)
            size += len(text)
    raw = "".join(parts).encode("ascii", "replace")
    # Twice over, so any slice of up to len/2 bytes starting in the first half exists.
    return raw + raw


def fingerprints(matrix: npt.NDArray[np.float32]) -> npt.NDArray[np.int64]:
    """An exact, order-independent digest of each row's bytes (two int64 per row).

    Bit-exact: ``-0.0`` and ``0.0`` differ. Used to verify millions of embeddings without
    keeping them.
    """
    bits = np.ascontiguousarray(matrix, dtype=np.float32).view(np.int32).astype(np.int64)
    weights = np.arange(1, bits.shape[1] + 1, dtype=np.int64)
    return np.stack([bits.sum(axis=1), bits @ weights], axis=1)


@dataclass
class Workload:
    """``n`` records of dimension ``dim`` whose content sizes follow ``mix``."""

    n: int
    dim: int = 768
    mix: SizeMix = TEXT_MIX
    seed: int = 0
    _chunk_cache: dict[int, npt.NDArray[np.float32]] = field(
        default_factory=dict, repr=False, compare=False
    )
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    _all: npt.NDArray[np.float32] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        rng = np.random.default_rng([self.seed, 0xC0FFEE])
        weights = np.array([c.weight for c in self.mix], dtype=np.float64)
        self.classes: npt.NDArray[np.intp] = rng.choice(
            len(self.mix), size=self.n, p=weights / weights.sum()
        )
        lows = np.array([c.low for c in self.mix], dtype=np.int64)[self.classes]
        highs = np.array([c.high for c in self.mix], dtype=np.int64)[self.classes]
        self.sizes: npt.NDArray[np.int64] = lows + (
            rng.random(self.n) * (highs - lows + 1)
        ).astype(np.int64)
        text = corpus(self.seed)
        self._text = text
        half = len(text) // 2
        self._offsets: npt.NDArray[np.int64] = rng.integers(0, half, self.n)
        self._confidences: npt.NDArray[np.float32] = rng.random(self.n).astype(np.float32)

    # -- one record ------------------------------------------------------------------

    @staticmethod
    def id(i: int) -> str:
        """``mem-000123``: the id of record ``i``."""
        return f"mem-{i:06d}"

    @staticmethod
    def index(id: str) -> int:
        """The record number of an id made by :meth:`id`."""
        return int(id[4:])

    def content(self, i: int) -> bytes:
        """Record ``i``'s content: its id, then faker text, exactly ``sizes[i]`` bytes."""
        size = int(self.sizes[i])
        if size == 0:
            return b""
        head = f"{i}:".encode()
        if size <= len(head):
            return head[:size]
        start = int(self._offsets[i])
        return head + self._text[start : start + size - len(head)]

    def confidence(self, i: int) -> float:
        return float(self._confidences[i])

    def embedding(self, i: int) -> npt.NDArray[np.float32]:
        row: npt.NDArray[np.float32] = (
            self._all[i] if self._all is not None else self._chunk(i // CHUNK)[i % CHUNK]
        )
        return row

    def preload(self) -> Workload:
        """Keep every embedding in memory (for random access by many threads)."""
        if self._all is None:
            whole = self.embeddings(0, self.n).copy()
            whole.setflags(write=False)
            self._all = whole
        return self

    def live_bytes(self, i: int) -> int:
        """Bytes a record holds (id + embedding + content): the unit of space amplification."""
        return len(self.id(i)) + 4 * self.dim + int(self.sizes[i])

    # -- many records ----------------------------------------------------------------

    def _chunk(self, c: int) -> npt.NDArray[np.float32]:
        with self._lock:
            cached = self._chunk_cache.get(c)
        if cached is None:
            rng = np.random.default_rng([self.seed, c])
            cached = rng.standard_normal((CHUNK, self.dim), dtype=np.float32)
            cached.setflags(write=False)
            with self._lock:
                if len(self._chunk_cache) >= 8:
                    self._chunk_cache.pop(next(iter(self._chunk_cache)))
                self._chunk_cache[c] = cached
        return cached

    def embeddings(self, start: int, stop: int) -> npt.NDArray[np.float32]:
        """Rows ``start..stop-1`` as one float32 matrix."""
        if stop <= start:
            return np.empty((0, self.dim), dtype=np.float32)
        if self._all is not None:
            rows: npt.NDArray[np.float32] = self._all[start:stop]
            return rows
        first, last = start // CHUNK, (stop - 1) // CHUNK
        parts = [self._chunk(c) for c in range(first, last + 1)]
        whole = parts[0] if len(parts) == 1 else np.concatenate(parts)
        base = first * CHUNK
        out: npt.NDArray[np.float32] = whole[start - base : stop - base]
        return out

    def batches(
        self, batch_size: int, start: int = 0, stop: int | None = None
    ) -> Iterator[list[tuple[str, npt.NDArray[np.float32], bytes, float]]]:
        """``(id, embedding, content, confidence)`` tuples, ``batch_size`` at a time."""
        stop = self.n if stop is None else stop
        for lo in range(start, stop, batch_size):
            hi = min(lo + batch_size, stop)
            emb = self.embeddings(lo, hi)
            yield [
                (self.id(i), emb[i - lo], self.content(i), self.confidence(i))
                for i in range(lo, hi)
            ]

    def query(self, target: int, noise: float = 0.05) -> npt.NDArray[np.float32]:
        """A query close to record ``target``'s embedding (it should rank first)."""
        rng = np.random.default_rng([self.seed, 0xBEEF, target])
        base = self.embedding(target).astype(np.float64)
        return (base + noise * rng.standard_normal(self.dim)).astype(np.float32)
