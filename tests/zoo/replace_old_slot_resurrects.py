"""Replace: ``remove`` forgets to unpublish the superseded versions of the id.

The newest version is unpublished, but an older one not yet retired by a flush keeps
its sequence number on disk; after a reopen the removed id comes back with old data.
"""

from __future__ import annotations

from warmtier.failpoints import failpoint
from warmtier.store import WarmTierStore
from warmtier.validation import validate_id

CATEGORY = "replace"
CAUGHT_BY = ("properties",)
COPIED_FROM = {"remove": "26411c9c7c58"}


class OldSlotResurrectsStore(WarmTierStore):
    """Reference store whose remove leaves replaced versions published."""

    def remove(self, id: str) -> bool:
        validate_id(id)
        with self._lock:
            self._ensure_open()
            slot = self._index.get(id)
            if slot is None:
                return False
            failpoint("remove.before_unpublish")
            self._seqs[slot] = 0
            for old in self._stale.pop(id, ()):
                # BUG: the old version's sequence number is not zeroed.
                self._stale_count -= 1
                self._pending_slots.append(old)
            del self._index[id]
            self._release_live(slot)
            self._pending_slots.append(slot)
            failpoint("remove.after_unpublish")
            return True
