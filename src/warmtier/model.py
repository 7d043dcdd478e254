"""The executable specification: a dict-backed store with the contract's sequential meaning.

No persistence, no cleverness. Every differential test compares a store with this
model; when unsure what a store should do, this module decides.
"""

from __future__ import annotations

import errno
import os
import threading
import weakref
from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np

from warmtier.errors import (
    CorruptionError,
    InvalidArgumentError,
    StoreClosedError,
    StoreLockedError,
)
from warmtier.records import CompactionStats, Embedding, Record, StoreStats
from warmtier.validation import (
    DEFAULT_MAX_CONTENT,
    validate_confidence,
    validate_content,
    validate_embedding,
    validate_id,
    validate_k,
    validate_query,
)

__all__ = ["ModelStore", "cosine_scores"]


def cosine_scores(query: Embedding, records: list[Record]) -> list[tuple[str, float]]:
    """Cosine similarity of ``query`` with each record, in float64; zero norm scores 0.0."""
    q = query.astype(np.float64)
    qn = float(np.linalg.norm(q))
    out = []
    for rec in records:
        e = rec.embedding.astype(np.float64)
        en = float(np.linalg.norm(e))
        score = 0.0 if en == 0.0 else float(np.dot(q, e) / (qn * en))
        out.append((rec.id, score))
    return out


class _Persisted:
    """What an in-memory "directory" holds between close() and open()."""

    def __init__(self, dim: int, max_content: int) -> None:
        self.dim = dim
        self.max_content = max_content
        self.records: dict[str, Record] = {}
        self.holder: weakref.ref[ModelStore] | None = None


class ModelStore:
    """The sequential contract, in memory.

    ``create``/``open`` keep a process-wide registry keyed by absolute path (``create``
    also makes the directory, so path rules match a real store), so the model
    can stand in for a persistent store: ``close()`` then ``open()`` gives back the same
    records, and dropping the object without ``close()`` keeps every completed operation
    (the model never loses a write). It is thread-safe by one lock, so the concurrency
    suites can run against it too.

    >>> import numpy as np
    >>> m = ModelStore(dim=2)
    >>> m.put("a", [1.0, 0.0], b"hello")
    >>> m.get("a").content
    b'hello'
    >>> m.search([1.0, 0.0], k=1)
    [('a', 1.0)]
    """

    failpoint_names: ClassVar[tuple[str, ...]] = ()
    #: The model never loses a completed operation (see warmtier.testing.subject).
    crash_promise: ClassVar[str] = "no-loss"
    #: ``create`` takes ``**options`` and reads this one.
    create_options: ClassVar[tuple[str, ...]] = ("max_content",)
    _registry: ClassVar[dict[str, _Persisted]] = {}
    _registry_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, dim: int, *, max_content: int = DEFAULT_MAX_CONTENT) -> None:
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            raise InvalidArgumentError(f"dim must be a positive int; got {dim!r}")
        self._state = _Persisted(dim, max_content)
        self._path: str | None = None
        self._lock = threading.RLock()
        self._closed = False

    # -- lifecycle -------------------------------------------------------------------

    @classmethod
    def create(cls, path: str | os.PathLike[str], dim: int, **options: Any) -> ModelStore:
        """A new in-memory store registered under ``path``."""
        key = os.path.abspath(os.fspath(path))
        store = cls(dim, max_content=int(options.get("max_content", DEFAULT_MAX_CONTENT)))
        with cls._registry_lock:
            if key in cls._registry or (os.path.lexists(key) and (
                    not os.path.isdir(key) or os.listdir(key))):
                raise InvalidArgumentError(f"{key} is not empty; create needs a new store")
            os.makedirs(key, exist_ok=True)  # the directory marks the path as taken
            store._path = key
            store._state.holder = weakref.ref(store)
            cls._registry[key] = store._state
        return store

    @classmethod
    def forget(cls, path: str | os.PathLike[str]) -> None:
        """Drop the state registered under ``path`` (a test's cleanup, like deleting a
        real store's directory)."""
        with cls._registry_lock:
            cls._registry.pop(os.path.abspath(os.fspath(path)), None)

    @classmethod
    def open(cls, path: str | os.PathLike[str], **options: Any) -> ModelStore:
        """The store registered under ``path``, with every completed operation."""
        key = os.path.abspath(os.fspath(path))
        with cls._registry_lock:
            state = cls._registry.get(key)
            if state is None:
                if os.path.exists(key):
                    raise CorruptionError(f"{key} holds no model store")
                raise FileNotFoundError(errno.ENOENT, "no store at this path", key)
            if state.holder is not None and state.holder() is not None:
                raise StoreLockedError(f"{key} is already open")
            store = cls.__new__(cls)
            store._state = state
            store._path = key
            store._lock = threading.RLock()
            store._closed = False
            state.holder = weakref.ref(store)
        return store

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                if self._state.holder is not None and self._state.holder() is self:
                    self._state.holder = None

    def __enter__(self) -> ModelStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _live(self) -> dict[str, Record]:
        if self._closed:
            raise StoreClosedError("the store is closed")
        return self._state.records

    @property
    def dim(self) -> int:
        return self._state.dim

    @property
    def path(self) -> str:
        """The registered path; empty for a model made directly, not by ``create``."""
        return self._path or ""

    # -- the contract ----------------------------------------------------------------

    def put(self, id: str, embedding: Any, content: bytes | str, confidence: float = 1.0) -> None:
        with self._lock:
            records = self._live()
            validate_id(id)
            emb = validate_embedding(embedding, self.dim)
            data = validate_content(content, self._state.max_content)
            conf = validate_confidence(confidence)
            records[id] = Record(id, emb, data, conf)

    def get(self, id: str) -> Record | None:
        with self._lock:
            records = self._live()
            validate_id(id)
            return records.get(id)

    def remove(self, id: str) -> bool:
        with self._lock:
            records = self._live()
            validate_id(id)
            return records.pop(id, None) is not None

    def __len__(self) -> int:
        with self._lock:
            return len(self._live())

    def __contains__(self, id: object) -> bool:
        with self._lock:
            records = self._live()
            validate_id(id)
            return id in records

    def ids(self) -> list[str]:
        with self._lock:
            return list(self._live())

    def scan(self, batch_size: int = 1024) -> Iterator[Record]:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidArgumentError(f"batch_size must be a positive int; got {batch_size!r}")
        with self._lock:
            snapshot = list(self._live().values())
        yield from snapshot

    def search(self, query: Any, k: int = 10) -> list[tuple[str, float]]:
        with self._lock:
            records = list(self._live().values())
            q = validate_query(query, self.dim)
            k = validate_k(k)
        scored = cosine_scores(q, records)
        scored.sort(key=lambda pair: (-pair[1], pair[0]))
        return scored[:k]

    def compact(self) -> CompactionStats:
        with self._lock:
            live = sum(len(r.content) for r in self._live().values())
            return CompactionStats(bytes_before=live, bytes_after=live, bytes_reclaimed=0)

    def flush(self) -> None:
        with self._lock:
            self._live()

    def stats(self) -> StoreStats:
        with self._lock:
            records = self._live()
            live = sum(len(r.content) for r in records.values())
            return StoreStats(
                records=len(records),
                capacity=len(records),
                content_live_bytes=live,
                content_allocated_bytes=live,
                fragmentation=0.0,
            )

    def check(self) -> None:
        with self._lock:
            self._live()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{len(self._state.records)} records"
        return f"<ModelStore dim={self.dim} {state}>"
