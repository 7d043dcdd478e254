"""Lifecycle: ``in`` and ``len`` keep answering from the in-memory index after ``close()``
instead of raising ``StoreClosedError`` (the open check was dropped from the read-only,
"harmless" calls).
"""

from __future__ import annotations

from warmtier.store import WarmTierStore
from warmtier.validation import validate_id

CATEGORY = "lifecycle"
CAUGHT_BY = ("properties", "unit")
COPIED_FROM = {"__len__": "b50f2ac403cb", "__contains__": "4debeef083cf"}


class ContainsAfterCloseStore(WarmTierStore):
    """Reference store whose membership and length ignore close()."""

    def __len__(self) -> int:
        with self._lock:
            return len(self._index)  # BUG: no self._ensure_open()

    def __contains__(self, id: object) -> bool:
        validate_id(id)
        with self._lock:
            return id in self._index  # BUG: no self._ensure_open()
