"""Compaction: the in-memory offset of the last moved record is not rewritten.

The loop that installs the new offsets stops one short, so after ``compact()`` the
record moved last is read from offset 0 of the new arena (another record's bytes).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from warmtier.format import Header
from warmtier.mapped import MappedFile
from warmtier.store import WarmTierStore

CATEGORY = "compaction"
CAUGHT_BY = ("properties",)


class LastOffsetNotRewrittenStore(WarmTierStore):
    """Reference store whose compaction skips one offset."""

    def _adopt(self, header: Header, slots: MappedFile, content: MappedFile,
               order: npt.NDArray[np.int64], new_offs: npt.NDArray[np.int64]) -> None:
        super()._adopt(header, slots, content, order, new_offs)
        n = len(order)
        if n:
            self._offsets[n - 1] = 0  # BUG: for j in range(n - 1) never reaches the last one
