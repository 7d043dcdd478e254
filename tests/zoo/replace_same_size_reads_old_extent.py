"""Replace: a same-size replacement is read from the old extent (stale content).

When the new content has the old length, the slot's in-memory offset is set to the old
extent, which still holds the previous bytes until the next flush recycles it.
"""

from __future__ import annotations

from typing import Any

from warmtier.store import WarmTierStore

CATEGORY = "replace"
CAUGHT_BY = ("regressions", "properties")


class SameSizeReadsOldExtentStore(WarmTierStore):
    """Reference store that reuses the old offset for a same-size replace."""

    def put(self, id: str, embedding: Any, content: bytes | str, confidence: float = 1.0) -> None:
        old = self._index.get(id) if isinstance(id, str) and not self._closed else None
        old_extent = (int(self._offsets[old]), int(self._lengths[old])) if old is not None else None
        super().put(id, embedding, content, confidence)
        if old_extent is not None and old_extent[1]:
            slot = self._index[id]
            if int(self._lengths[slot]) == old_extent[1]:
                self._offsets[slot] = old_extent[0]  # BUG: "nothing moved, keep the offset"
