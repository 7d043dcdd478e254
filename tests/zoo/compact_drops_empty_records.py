"""Compaction: the records to move are filtered to those holding bytes ("nothing to copy
for the empty ones"), so every record with empty content disappears in ``compact()``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from warmtier.format import Header
from warmtier.mapped import MappedFile
from warmtier.store import WarmTierStore

CATEGORY = "compaction"
CAUGHT_BY = ("regressions", "properties")


class CompactDropsEmptyRecordsStore(WarmTierStore):
    """Reference store whose compaction forgets records without content."""

    def _with_bytes(self, order: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
        return self._lengths[order] > 0  # BUG: "nothing to copy" is not "nothing to keep"

    def _copy_into(self, slots: MappedFile, content: MappedFile, order: npt.NDArray[np.int64],
                   new_offs: npt.NDArray[np.int64], header: Header) -> None:
        keep = self._with_bytes(order)
        super()._copy_into(slots, content, order[keep], new_offs[keep], header)

    def _adopt(self, header: Header, slots: MappedFile, content: MappedFile,
               order: npt.NDArray[np.int64], new_offs: npt.NDArray[np.int64]) -> None:
        keep = self._with_bytes(order)
        super()._adopt(header, slots, content, order[keep], new_offs[keep])
