"""The slot table: what the store keeps in memory about each slot of the slot file.

One object for the parallel per-slot arrays (id, live flag, content extent, norm,
confidence), so growth, compaction and ``check()`` name them once, here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["SlotTable"]

#: The numpy columns, in the order ``check()`` reports them, with their dtypes.
COLUMNS: tuple[tuple[str, type[np.generic]], ...] = (
    ("live", np.bool_),
    ("offsets", np.int64),
    ("lengths", np.int64),
    ("norms", np.float64),
    ("confidences", np.float64),
)


@dataclass(eq=False)
class SlotTable:
    """Per slot: the id it holds (``None`` when not live), whether it is live, its content
    extent (``offsets``, ``lengths``; zero when not live), its embedding's norm and its
    confidence. Every column has one entry per slot of the file.

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
        self.confidences[slot] = confidence

    def clear(self, slot: int) -> None:
        """``slot`` holds no live record (its norm and confidence are left as they were)."""
        self.live[slot] = False
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
