"""Growth: after the slots file is remapped, the sequence-number column is rebuilt with
``np.ascontiguousarray`` -- a private copy of a strided field, not a view of the mapping.

Every publish and unpublish after the first growth lands in that copy; nothing written
since reaches the file, so a reopen loses those records (or resurrects removed ones).
"""

from __future__ import annotations

import numpy as np

from warmtier.store import WarmTierStore

CATEGORY = "growth"
CAUGHT_BY = ("properties",)


class PublishToStaleSeqViewStore(WarmTierStore):
    """Reference store whose growth leaves the seq column detached from the mapping."""

    def _grow_slots(self) -> None:
        super()._grow_slots()
        self._seqs = np.ascontiguousarray(self._slots["seq"])  # BUG: a copy, not a view
