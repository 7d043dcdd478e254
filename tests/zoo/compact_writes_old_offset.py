"""Compaction: the new slots file keeps the old offset of the last record moved.

The content is copied to its new place and the in-memory offsets are right, so reads
look fine until the store is reopened: then the slot points at the old place (its
checksum fails, or it reads another record's bytes).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from warmtier.format import Header
from warmtier.mapped import MappedFile
from warmtier.store import WarmTierStore

CATEGORY = "compaction"
CAUGHT_BY = ("properties",)


class WritesOldOffsetStore(WarmTierStore):
    """Reference store whose compaction forgets to rewrite one offset on disk."""

    def _copy_into(self, slots: MappedFile, content: MappedFile, order: npt.NDArray[np.int64],
                   new_offs: npt.NDArray[np.int64], header: Header) -> None:
        super()._copy_into(slots, content, order, new_offs, header)
        if len(order):
            j = len(order) - 1
            body = slots.u8[4096:]
            view = body[: (j + 1) * self._slot_size].view(self._dtype)
            view["off"][j] = self._offsets[int(order[j])]  # BUG: the old offset stays
