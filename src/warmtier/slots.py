"""The slot table: what the store keeps in memory about each slot of the slot file.

One object for the parallel per-slot arrays (id, live flag, content extent, norm, score
weight, confidence), so growth, compaction and ``check()`` name them once, here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["SAFE_NORM", "SlotTable", "score_weight", "score_weights"]

#: The numpy columns, in the order ``check()`` reports them, with their dtypes.
COLUMNS: tuple[tuple[str, type[np.generic]], ...] = (
    ("live", np.bool_),
    ("offsets", np.int64),
    ("lengths", np.int64),
    ("norms", np.float64),
    ("weights", np.float32),
    ("confidences", np.float64),
)

#: Norms whose reciprocal float32 holds with room to spare; outside it (zero, tiny,
#: huge), search scores a slot in float64 only.
SAFE_NORM = (1e-30, 1e30)


def score_weight(norm: float) -> float:
    """A live slot's score weight: ``1 / norm`` where the norm is in :data:`SAFE_NORM`,
    else 0 (as for a slot that is not live), so a search's float32 scores are one
    multiplication of its products.

    >>> score_weight(4.0), score_weight(0.0), score_weight(1e31)
    (0.25, 0.0, 0.0)
    """
    return 1.0 / norm if SAFE_NORM[0] <= norm <= SAFE_NORM[1] else 0.0


def score_weights(norms: npt.NDArray[np.float64]) -> npt.NDArray[np.float32]:
    """:func:`score_weight` of each of ``norms``."""
    safe = (norms >= SAFE_NORM[0]) & (norms <= SAFE_NORM[1])
    weights = np.zeros(len(norms), np.float32)
    np.divide(1.0, norms, out=weights, where=safe, casting="unsafe")
    return weights


#: Fills :meth:`SlotTable.fill` queues before it writes them into the columns, one
#: vectorized store per column: a put then pays one list append instead of six numpy
#: scalar stores (30K puts into a tmpfs store: p50 8.17 to 7.48 us). Writing them costs
#: 0.1-0.2 us a fill whatever their number, so the bound keeps each write short (50 us
#: here) and its arrays small: at 4,096 the fresh memory of larger ones made writes of
#: 1-8 ms, 9% of the bench's put time.
QUEUE = 256
#: Fewer queued fills than this are written one by one (a vectorized store costs about a
#: microsecond whatever its size; a reader after each put writes one).
ONE_BY_ONE = 16

_Fill = tuple[int, int, int, float, float]  # slot, offset, length, norm, confidence


def _column(name: str) -> Any:
    """The column ``name``, read and replaced after the queued fills are written."""
    private = "_" + name

    def get(self: SlotTable) -> Any:
        if self._queued:
            self._write_queued()
        return getattr(self, private)

    def set_(self: SlotTable, value: Any) -> None:
        if self._queued:
            self._write_queued()
        setattr(self, private, value)

    return property(get, set_)


class SlotTable:
    """Per slot: the id it holds (``None`` when not live), whether it is live, its content
    extent (``offsets``, ``lengths``; zero when not live), its embedding's norm, its score
    weight (:func:`score_weight` of the norm; zero when not live) and its confidence.
    Every column has one entry per slot of the file. ``ids`` is a list, the other
    columns numpy arrays, which :meth:`fill` writes in batches: reading one writes what
    is queued first.

    >>> t = SlotTable.empty(2)
    >>> t.fill(1, "a", 10, 3, 1.0, 0.5)
    >>> t.ids, t.live.tolist(), t.offsets.tolist()
    ([None, 'a'], [False, True], [0, 10])
    """

    __slots__ = ("_confidences", "_lengths", "_live", "_norms", "_offsets", "_queued",
                 "_weights", "ids")

    ids: list[str | None]
    _live: npt.NDArray[np.bool_]
    _offsets: npt.NDArray[np.int64]
    _lengths: npt.NDArray[np.int64]
    _norms: npt.NDArray[np.float64]
    _weights: npt.NDArray[np.float32]
    _confidences: npt.NDArray[np.float64]
    _queued: list[_Fill]

    live = _column("live")
    offsets = _column("offsets")
    lengths = _column("lengths")
    norms = _column("norms")
    weights = _column("weights")
    confidences = _column("confidences")

    def __init__(self, ids: list[str | None], live: npt.NDArray[np.bool_],
                 offsets: npt.NDArray[np.int64], lengths: npt.NDArray[np.int64],
                 norms: npt.NDArray[np.float64], weights: npt.NDArray[np.float32],
                 confidences: npt.NDArray[np.float64]) -> None:
        self.ids, self._live, self._offsets, self._lengths = ids, live, offsets, lengths
        self._norms, self._weights, self._confidences = norms, weights, confidences
        self._queued = []

    @classmethod
    def empty(cls, capacity: int) -> SlotTable:
        """A table of ``capacity`` slots, none live."""
        return cls([None] * capacity, *(np.zeros(capacity, dtype) for _, dtype in COLUMNS))

    @classmethod
    def packed(cls, capacity: int, ids: Sequence[str | None], offsets: npt.NDArray[np.int64],
               lengths: npt.NDArray[np.int64], norms: npt.NDArray[np.float64],
               confidences: npt.NDArray[np.float64]) -> SlotTable:
        """A table whose first ``len(ids)`` slots are live with these fields (compaction)."""
        table = cls.empty(capacity)
        n = len(ids)
        table.ids[:n] = ids
        table._store(slice(0, n), offsets, lengths, norms, confidences)
        return table

    def grow(self, extra: int) -> None:
        """Append ``extra`` slots, none live."""
        self.ids.extend([None] * extra)
        for name, dtype in COLUMNS:
            setattr(self, name, np.concatenate((getattr(self, name), np.zeros(extra, dtype))))

    def fill(self, slot: int, id: str, offset: int, length: int, norm: float,
             confidence: float) -> None:
        """Make ``slot`` the live slot of ``id`` (its numeric columns when next read, or
        after :data:`QUEUE` fills)."""
        self.ids[slot] = id
        queued = self._queued
        queued.append((slot, offset, length, norm, confidence))
        if len(queued) >= QUEUE:
            self._write_queued()

    def _write_queued(self) -> None:
        """Write the queued fills into the numeric columns (each slot is queued once: a
        slot is cleared, which writes the queue first, before it is filled again)."""
        queued = self._queued
        if len(queued) < ONE_BY_ONE:
            live, offsets, lengths = self._live, self._offsets, self._lengths
            norms, weights, confidences = self._norms, self._weights, self._confidences
            for slot, offset, length, norm, confidence in queued:
                live[slot] = True
                offsets[slot], lengths[slot] = offset, length
                norms[slot], weights[slot] = norm, score_weight(norm)
                confidences[slot] = confidence
        else:
            n = len(queued)
            slots, offs, lens, norm_list, confs = zip(*queued, strict=True)
            self._store(np.fromiter(slots, np.int64, n), np.fromiter(offs, np.int64, n),
                        np.fromiter(lens, np.int64, n), np.fromiter(norm_list, np.float64, n),
                        np.fromiter(confs, np.float64, n))
        queued.clear()

    def _store(self, slots: npt.NDArray[np.int64] | slice, offsets: npt.NDArray[np.int64],
               lengths: npt.NDArray[np.int64], norms: npt.NDArray[np.float64],
               confidences: npt.NDArray[np.float64]) -> None:
        """Make ``slots`` (distinct, none of them queued) live with these numeric fields."""
        self._live[slots] = True
        self._offsets[slots] = offsets
        self._lengths[slots] = lengths
        self._norms[slots] = norms
        self._weights[slots] = score_weights(norms)
        self._confidences[slots] = confidences

    def fill_many(self, slots: npt.NDArray[np.int64], ids: Sequence[str],
                  offsets: npt.NDArray[np.int64], lengths: npt.NDArray[np.int64],
                  norms: npt.NDArray[np.float64], confidences: npt.NDArray[np.float64]) -> None:
        """:meth:`fill` for each of ``slots`` (distinct) with the matching fields."""
        held = self.ids
        for slot, id in zip(slots.tolist(), ids, strict=True):
            held[slot] = id
        if self._queued:
            self._write_queued()
        self._store(slots, offsets, lengths, norms, confidences)

    def clear(self, slot: int) -> None:
        """``slot`` holds no live record (its norm and confidence are left as they were)."""
        if self._queued:
            self._write_queued()
        self._live[slot] = False
        self._weights[slot] = 0.0
        self.ids[slot] = None
        self._offsets[slot] = 0
        self._lengths[slot] = 0

    def shape_problems(self, capacity: int) -> list[str]:
        """Columns whose length is not ``capacity``, named as ``check()`` reports them."""
        problems = [
            f"in-memory {name} array has {len(getattr(self, name))} entries for {capacity} slots"
            for name, _ in COLUMNS if len(getattr(self, name)) != capacity
        ]
        if len(self.ids) != capacity:
            problems.append(f"slot id list has {len(self.ids)} entries for {capacity} slots")
        return problems
