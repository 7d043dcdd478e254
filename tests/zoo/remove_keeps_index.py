"""Remove: the id stays in the index, pointing at the slot that was just released.

``get`` answers an empty record for a removed id, ``len`` and ``in`` still count it,
and a second ``remove`` reports ``True``.
"""

from __future__ import annotations

from warmtier.failpoints import failpoint
from warmtier.store import WarmTierStore
from warmtier.validation import validate_id

CATEGORY = "remove"
CAUGHT_BY = ("properties",)
COPIED_FROM = {"remove": "26411c9c7c58"}


class KeepsIndexStore(WarmTierStore):
    """Reference store whose remove keeps the index entry."""

    def remove(self, id: str) -> bool:
        validate_id(id)
        with self._lock:
            self._ensure_open()
            slot = self._index.get(id)
            if slot is None or not self._live[slot]:
                return slot is not None  # BUG: the stale entry still reads as present
            failpoint("remove.before_unpublish")
            self._seqs[slot] = 0
            for old in self._stale.pop(id, ()):
                self._seqs[old] = 0
                self._stale_count -= 1
                self._pending_slots.append(old)
            # BUG: ``del self._index[id]`` is missing.
            self._release_live(slot)
            self._pending_slots.append(slot)
            failpoint("remove.after_unpublish")
            return True
