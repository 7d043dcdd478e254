"""Persistence: reopen sets the next sequence number from the count of live records
instead of the highest sequence number on disk.

After any remove, new writes reuse sequence numbers that older slots still carry; a
crash then lets an old version win recovery ("highest seq wins") over a newer one.
"""

from __future__ import annotations

from warmtier.store import Verify, WarmTierStore

CATEGORY = "persistence"
CAUGHT_BY = ("properties", "crash")


class NextSeqFromCountStore(WarmTierStore):
    """Reference store whose recovery ignores the sequence numbers when numbering anew."""

    def _rebuild(self, verify: Verify = "all") -> None:
        super()._rebuild(verify)
        self._next_seq = len(self._index) + 1  # BUG: max(seq on disk, seq_floor) + 1
