"""The immutable values the contract hands out: Record, StoreStats, CompactionStats."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["CompactionStats", "Record", "StoreStats"]

Embedding = npt.NDArray[np.float32]


@dataclass(frozen=True, eq=False, slots=True)
class Record:
    """One stored record. It owns its data: the embedding is a read-only private copy.

    Equality is the contract's: ids, contents and confidences (as float32 values, so a
    confidence of ``-0.0`` equals ``0.0``) equal, and embeddings with the same bytes (so
    there ``-0.0`` and ``0.0`` differ). It holds against any object with the four fields
    (another store's record type), so a suite can compare what a store returns directly.

    >>> import numpy as np
    >>> Record("a", np.zeros(2, np.float32), b"x", 1.0) == Record("a", [0, 0], b"x", 1.0)
    True
    """

    id: str
    embedding: Embedding
    content: bytes
    confidence: float

    def __post_init__(self) -> None:
        emb = np.array(self.embedding, dtype=np.float32, copy=True)
        emb.setflags(write=False)
        object.__setattr__(self, "embedding", emb)
        object.__setattr__(self, "content", bytes(self.content))
        object.__setattr__(self, "confidence", float(self.confidence))

    def __eq__(self, other: object) -> bool:
        try:
            other_id, content = other.id, other.content  # type: ignore[attr-defined]
            confidence, embedding = other.confidence, other.embedding  # type: ignore[attr-defined]
            emb = np.asarray(embedding)
            return bool(
                self.id == other_id
                and self.content == content
                and np.float32(self.confidence) == np.float32(confidence)
                and emb.dtype == np.float32
                and self.embedding.shape == emb.shape
                and self.embedding.tobytes() == emb.tobytes()
            )
        except (AttributeError, TypeError, ValueError):
            return NotImplemented

    def __hash__(self) -> int:
        return hash((self.id, self.content, self.embedding.tobytes()))

    def __repr__(self) -> str:
        content = self.content if len(self.content) <= 32 else self.content[:32] + b"..."
        return (
            f"Record(id={self.id!r}, embedding=<float32[{self.embedding.shape[0]}]>, "
            f"content={content!r} ({len(self.content)} B), confidence={self.confidence!r})"
        )


@dataclass(frozen=True, slots=True)
class StoreStats:
    """A snapshot of a store's size and space use.

    ``content_allocated_bytes`` is the span of the content arena in use: from offset 0
    to the end of the last allocated extent, holes included. ``fragmentation`` is the
    share of that span that holds no live content (``0.0`` when the span is empty).
    """

    records: int
    capacity: int
    content_live_bytes: int
    content_allocated_bytes: int
    fragmentation: float
    content_capacity_bytes: int = 0
    slots_file_bytes: int = 0
    content_file_bytes: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CompactionStats:
    """What ``compact()`` did, in allocated content bytes (see :class:`StoreStats`)."""

    bytes_before: int
    bytes_after: int
    bytes_reclaimed: int
    records_moved: int = 0
