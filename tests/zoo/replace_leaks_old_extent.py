"""Replace: the superseded version's content extent is never queued for reuse (a leak).

Every overwrite strands the old bytes; the arena only grows, and the allocator's
allocated bytes drift away from the live and pending extents.
"""

from __future__ import annotations

from warmtier.store import WarmTierStore

CATEGORY = "replace"
CAUGHT_BY = ("properties",)
COPIED_FROM = {"_retire_replaced": "6d77248f3a57", "_release_live": "01307c0d4ba8"}


class LeakOldExtentStore(WarmTierStore):
    """Reference store that forgets the old extent of a replaced record."""

    def _retire_replaced(self, slot: int, id: str) -> None:
        self._stale.setdefault(id, []).append(slot)
        self._stale_count += 1
        # BUG: the old extent is dropped instead of joining _pending_extents.
        self._live_bytes -= int(self._lengths[slot])
        self._live[slot] = False
        self._slot_ids[slot] = None
        self._offsets[slot] = 0
        self._lengths[slot] = 0
