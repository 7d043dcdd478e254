"""Replace: a read cache in front of ``get`` is invalidated by ``remove`` but not by ``put``.

After an id is overwritten, ``get`` keeps answering the record it cached before.
"""

from __future__ import annotations

from typing import Any

from warmtier.records import Record
from warmtier.store import WarmTierStore

CATEGORY = "replace"
CAUGHT_BY = ("properties",)


class StaleReadCacheStore(WarmTierStore):
    """Reference store with a get() cache that a replacing put leaves stale."""

    def get(self, id: str) -> Record | None:
        cache: dict[str, Record] = self.__dict__.setdefault("_read_cache", {})
        with self._lock:
            self._ensure_open()
            hit = cache.get(id) if isinstance(id, str) else None
            if hit is not None and id in self._index:
                return hit
            rec = super().get(id)
            if rec is not None:
                cache[id] = rec
            return rec

    def remove(self, id: str) -> bool:
        with self._lock:
            self.__dict__.setdefault("_read_cache", {}).pop(id, None)
            return super().remove(id)

    def put(self, id: str, embedding: Any, content: bytes | str, confidence: float = 1.0) -> None:
        super().put(id, embedding, content, confidence)  # BUG: no cache invalidation
