"""Remove: the live-bytes counter is not decremented, so ``stats()`` overstates live
content and fragmentation drifts below its true value.
"""

from __future__ import annotations

from warmtier.store import WarmTierStore

CATEGORY = "remove"
CAUGHT_BY = ("properties",)


class CounterNotDecrementedStore(WarmTierStore):
    """Reference store whose remove keeps counting the removed record's bytes."""

    def remove(self, id: str) -> bool:
        with self._lock:
            slot = self._index.get(id) if isinstance(id, str) else None
            n = int(self._lengths[slot]) if slot is not None and not self._closed else 0
            removed = super().remove(id)
            if removed:
                self._live_bytes += n  # BUG: undoes the decrement in _release_live
            return removed
