"""Recovery: the slot with the highest sequence number is ignored.

An off-by-one in the scan of published slots skips the newest one, so the last record
written before ``close()`` (or a crash) is gone after ``open()``.
"""

from __future__ import annotations

import numpy as np

from warmtier.store import Verify, WarmTierStore

CATEGORY = "persistence"
CAUGHT_BY = ("properties",)


class ForgetsNewestRecordStore(WarmTierStore):
    """Reference store whose recovery drops the newest slot."""

    def _rebuild(self, verify: Verify = "all") -> None:
        seqs = self._seqs
        if len(seqs) and int(seqs.max()) > 0:
            seqs[int(np.argmax(seqs))] = 0  # BUG: range(len(published) - 1)
        super()._rebuild(verify)
