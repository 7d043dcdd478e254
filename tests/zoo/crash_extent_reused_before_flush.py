"""Crash ordering: ``remove`` returns the record's content extent to the allocator at
once instead of after the next durability point.

The next ``put`` overwrites those bytes while the disk may still hold the removed slot
as published; a power cut that keeps the new content but not the unpublish leaves a
record, written before the last flush, whose checksum fails: ``open()`` refuses the store.
"""

from __future__ import annotations

from warmtier.store import WarmTierStore

CATEGORY = "crash"
CAUGHT_BY = ("crash",)
QUICK = ("tests/crash/test_crash_power_loss.py",)


class ExtentReusedBeforeFlushStore(WarmTierStore):
    """Reference store that recycles removed content space before it is durable."""

    def _release_live(self, slot: int) -> None:
        n = int(self._lengths[slot])
        removed = self._slot_ids[slot] not in self._index
        super()._release_live(slot)
        if n and removed:
            off, length = self._pending_extents.pop()  # BUG: skip the wait for a flush
            self._pending_bytes -= length
            self._alloc.free(off, length)
