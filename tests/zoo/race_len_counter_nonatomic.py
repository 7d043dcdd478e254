"""``len`` comes from a counter that put and remove update outside their critical
section: "is it new?" is asked before the put and the count bumped after it.

Invisible to one thread; two racing puts of one new id both count it, and a put racing
a remove of its id counts wrongly, so ``len`` drifts from the number of live ids.
"""

from __future__ import annotations

from typing import Any

from warmtier.store import WarmTierStore

CATEGORY = "concurrency"
CAUGHT_BY = ("concurrency",)


class LenCounterNonatomicStore(WarmTierStore):
    """Reference store whose record count is maintained outside the lock."""

    _count = 0

    def put(self, id: str, embedding: Any, content: bytes | str, confidence: float = 1.0) -> None:
        is_new = id not in self  # BUG: decided outside put's critical section ...
        super().put(id, embedding, content, confidence)
        if is_new:
            self._count += 1  # ... and a read-modify-write outside any lock

    def remove(self, id: str) -> bool:
        removed = super().remove(id)
        if removed:
            self._count -= 1
        return removed

    def __len__(self) -> int:
        self._ensure_open()
        return self._count

    @classmethod
    def open(cls, path: Any) -> LenCounterNonatomicStore:
        store = super().open(path)
        assert isinstance(store, LenCounterNonatomicStore)
        store._count = len(store._index)
        return store
