"""Remove: the search view (live mask and slot ids) is not updated, so ``search`` still
returns the removed id until its slot is reused.
"""

from __future__ import annotations

from warmtier.store import WarmTierStore

CATEGORY = "remove"
CAUGHT_BY = ("properties",)


class SearchStillReturnsStore(WarmTierStore):
    """Reference store whose remove leaves the record visible to search."""

    def remove(self, id: str) -> bool:
        with self._lock:
            slot = self._index.get(id) if isinstance(id, str) else None
            removed = super().remove(id)
            if removed and slot is not None:
                # BUG: a "lazy delete" that forgets to clear the search view.
                self._live[slot] = True
                self._slot_ids[slot] = id
            return removed
