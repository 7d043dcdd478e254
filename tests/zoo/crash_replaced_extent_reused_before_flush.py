"""Crash ordering: a replace returns the old version's content extent to the allocator at
once instead of after the next flush.

The old version stays published on disk until the new one is durable, but its bytes
may already hold another record's content: a power cut that loses the new version's
slot brings back the old one with a failing checksum, and ``open()`` refuses the store.
"""

from __future__ import annotations

from warmtier.store import WarmTierStore

CATEGORY = "crash"
CAUGHT_BY = ("crash",)


class ReplacedExtentReusedBeforeFlushStore(WarmTierStore):
    """Reference store that recycles a replaced version's space before it is durable."""

    def _retire_replaced(self, slot: int, id: str) -> None:
        n = int(self._lengths[slot])
        off = int(self._offsets[slot])
        super()._retire_replaced(slot, id)
        if n:
            self._pending_extents.remove((off, n))  # BUG: skip the wait for a flush
            self._pending_bytes -= n
            self._alloc.free(off, n)
