"""The slot table: what the store keeps in memory about each slot of the slot file.

One object for the parallel per-slot arrays (id, live flag, content extent, norm, score
weight, confidence), so growth, compaction and ``check()`` name them once, here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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


@dataclass(eq=False)
class SlotTable:
    """Per slot: the id it holds (``None`` when not live), whether it is live, its content
    extent (``offsets``, ``lengths``; zero when not live), its embedding's norm, its score
    weight (:func:`score_weight` of the norm; zero when not live) and its confidence.
    Every column has one entry per slot of the file.

    >>> t = SlotTable.empty(2)
    >>> t.fill(1, "a", 10, 3, 1.0, 0.5)
    >>> t.ids, t.live.tolist(), t.offsets.tolist()
    ([None, 'a'], [False, True], [0, 10])
    """

    ids: list[str | None]
    live: npt.NDArray[np.bool_]
    offsets: npt.NDArray[np.int64]
    lengths: npt.NDArray[np.int64]
    norms: npt.NDArray[np.float64]
    weights: npt.NDArray[np.float32]
    confidences: npt.NDArray[np.float64]

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
        table.live[:n] = True
        for column, values in (("offsets", offsets), ("lengths", lengths), ("norms", norms),
                               ("weights", score_weights(norms)),
                               ("confidences", confidences)):
            getattr(table, column)[:n] = values
        return table

    def grow(self, extra: int) -> None:
        """Append ``extra`` slots, none live."""
        self.ids.extend([None] * extra)
        for name, dtype in COLUMNS:
            setattr(self, name, np.concatenate((getattr(self, name), np.zeros(extra, dtype))))

    def fill(self, slot: int, id: str, offset: int, length: int, norm: float,
             confidence: float) -> None:
        """Make ``slot`` the live slot of ``id``."""
        self.ids[slot] = id
        self.live[slot] = True
        self.offsets[slot] = offset
        self.lengths[slot] = length
        self.norms[slot] = norm
        self.weights[slot] = score_weight(norm)
        self.confidences[slot] = confidence

    def fill_many(self, slots: npt.NDArray[np.int64], ids: Sequence[str],
                  offsets: npt.NDArray[np.int64], lengths: npt.NDArray[np.int64],
                  norms: npt.NDArray[np.float64], confidences: npt.NDArray[np.float64]) -> None:
        """:meth:`fill` for each of ``slots`` (distinct) with the matching fields."""
        held = self.ids
        for slot, id in zip(slots.tolist(), ids, strict=True):
            held[slot] = id
        self.live[slots] = True
        self.offsets[slots] = offsets
        self.lengths[slots] = lengths
        self.norms[slots] = norms
        self.weights[slots] = score_weights(norms)
        self.confidences[slots] = confidences

    def clear(self, slot: int) -> None:
        """``slot`` holds no live record (its norm and confidence are left as they were)."""
        self.live[slot] = False
        self.weights[slot] = 0.0
        self.ids[slot] = None
        self.offsets[slot] = 0
        self.lengths[slot] = 0

    def shape_problems(self, capacity: int) -> list[str]:
        """Columns whose length is not ``capacity``, named as ``check()`` reports them."""
        problems = [
            f"in-memory {name} array has {len(getattr(self, name))} entries for {capacity} slots"
            for name, _ in COLUMNS if len(getattr(self, name)) != capacity
        ]
        if len(self.ids) != capacity:
            problems.append(f"slot id list has {len(self.ids)} entries for {capacity} slots")
        return problems
