"""Stores that do what the contract allows but the reference store does not, and stores
that break it: the suites must pass the first kind and catch the second.

Each is the model (:class:`~warmtier.model.ModelStore`) with one difference, so a
failure against it can only come from that difference. Usable as
``--warmtier-store=tests.any_store.lenient_stores:<Class>``.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from typing import Any, ClassVar

from warmtier.model import ModelStore
from warmtier.records import Record

__all__ = [
    "CompactionChangesRecordsStore",
    "FragmentationAboveOneStore",
    "LosesUnflushedStore",
    "NegativeZeroConfidenceStore",
    "NoStatsExtrasStore",
    "OtherFragmentationStore",
    "PlainCreateStore",
    "WrongConfidenceStore",
]


class OtherFragmentationStore(ModelStore):
    """Allowed: measures fragmentation its own way (here a constant share of 0.25, as a
    store counting free pages of a preallocated file might report)."""

    def stats(self) -> Any:
        return dataclasses.replace(super().stats(), fragmentation=0.25)


class FragmentationAboveOneStore(ModelStore):
    """Broken: reports a fragmentation of 1.5, outside the contract's 0.0 to 1.0."""

    def stats(self) -> Any:
        return dataclasses.replace(super().stats(), fragmentation=1.5)


def _flat_zero(record: Record | None) -> Record | None:
    if record is None or record.confidence != 0.0 or math.copysign(1.0, record.confidence) > 0:
        return record
    return Record(record.id, record.embedding, record.content, 0.0)


class NegativeZeroConfidenceStore(ModelStore):
    """Allowed: returns the confidence ``0.0`` for a stored ``-0.0`` (the same confidence;
    only embeddings are bit-exact). Promises only a prefix after a crash, so the machine
    compares what an abandoned object comes back as with each prefix state too."""

    crash_promise: ClassVar[str] = "prefix"

    def get(self, id: str) -> Record | None:
        return _flat_zero(super().get(id))

    def scan(self, batch_size: int = 1024) -> Any:
        for record in super().scan(batch_size):
            yield _flat_zero(record)


class WrongConfidenceStore(ModelStore):
    """Broken: returns the confidence ``0.25`` for a stored ``0.5``."""

    @staticmethod
    def _wrong(record: Record | None) -> Record | None:
        if record is None or record.confidence != 0.5:
            return record
        return Record(record.id, record.embedding, record.content, 0.25)

    def get(self, id: str) -> Record | None:
        return self._wrong(super().get(id))

    def scan(self, batch_size: int = 1024) -> Any:
        for record in super().scan(batch_size):
            yield self._wrong(record)


class PlainCreateStore(ModelStore):
    """Allowed: ``create(path, dim)`` takes no options at all, and the store makes only the
    contract's crash promise (some prefix of the completed operations)."""

    crash_promise: ClassVar[str] = "prefix"
    create_options: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def create(cls, path: str | os.PathLike[str], dim: int) -> PlainCreateStore:  # type: ignore[override]
        store = super().create(path, dim)
        assert isinstance(store, PlainCreateStore)
        return store


@dataclass(frozen=True)
class PlainStats:
    """Exactly the five fields the contract names for ``stats()``."""

    records: int
    capacity: int
    content_live_bytes: int
    content_allocated_bytes: int
    fragmentation: float


@dataclass(frozen=True)
class PlainCompaction:
    """Exactly the three fields the contract names for ``compact()``."""

    bytes_before: int
    bytes_after: int
    bytes_reclaimed: int


class NoStatsExtrasStore(ModelStore):
    """Allowed: ``stats()`` has only the contract's five fields (no
    ``content_capacity_bytes``), and ``compact()`` adds a fixed overhead of 64 bytes by its
    own measure, so it reports growth (``bytes_after > bytes_before``, negative
    ``bytes_reclaimed``)."""

    OVERHEAD: ClassVar[int] = 64

    def stats(self) -> Any:
        base = super().stats()
        return PlainStats(base.records, base.capacity, base.content_live_bytes,
                          base.content_allocated_bytes, base.fragmentation)

    def compact(self) -> Any:
        base = super().compact()
        return PlainCompaction(base.bytes_before, base.bytes_after + self.OVERHEAD,
                               -self.OVERHEAD)


class CompactionChangesRecordsStore(NoStatsExtrasStore):
    """Broken: ``compact()`` drops the empty records (records must come out unchanged)."""

    def compact(self) -> Any:
        with self._lock:
            for record in list(self._live().values()):
                if not record.content:
                    self._live().pop(record.id)
        return super().compact()


class LosesUnflushedStore(PlainCreateStore):
    """Allowed (``crash_promise = "prefix"``): an object dropped without ``close()`` loses
    every operation since its last durability point (``flush``, ``compact``, ``close``)."""

    _durable: ClassVar[dict[int, dict[str, Record]]] = {}

    def _made_durable(self) -> None:
        LosesUnflushedStore._durable[id(self._state)] = dict(self._live())

    @classmethod
    def create(cls, path: str | os.PathLike[str], dim: int) -> LosesUnflushedStore:  # type: ignore[override]
        store = super().create(path, dim)
        assert isinstance(store, LosesUnflushedStore)
        store._made_durable()
        return store

    @classmethod
    def open(cls, path: str | os.PathLike[str], **options: Any) -> LosesUnflushedStore:
        key = os.path.abspath(os.fspath(path))
        with cls._registry_lock:
            state = cls._registry.get(key)
            abandoned = state is not None and state.holder is not None and state.holder() is None
            if state is not None and abandoned:
                state.records = dict(cls._durable.get(id(state), {}))
        store = super().open(path, **options)
        assert isinstance(store, LosesUnflushedStore)
        return store

    def flush(self) -> None:
        with self._lock:
            super().flush()
            self._made_durable()

    def compact(self) -> Any:
        with self._lock:
            result = super().compact()
            self._made_durable()
            return result

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._made_durable()
            super().close()
