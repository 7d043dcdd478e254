"""Allocator: ``remove`` frees the record's extent at once *and* queues it for the next flush.

The extent is handed out again before the flush; the flush then frees it a second time,
under the new owner (the allocator's double-free guard only sees overlaps with free
extents), and a third record is given the same bytes.
"""

from __future__ import annotations

from warmtier.store import WarmTierStore

CATEGORY = "allocator"
CAUGHT_BY = ("properties",)


class DoubleFreeOnRemoveStore(WarmTierStore):
    """Reference store whose remove returns content space twice."""

    def _release_live(self, slot: int) -> None:
        n = int(self._lengths[slot])
        was_removed = self._slot_ids[slot] not in self._index
        super()._release_live(slot)
        if n and was_removed:
            off, length = self._pending_extents[-1]
            self._alloc.free(off, length)  # BUG: also queued in _pending_extents
