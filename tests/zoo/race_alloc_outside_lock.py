"""Put: the slot is chosen before the lock is taken (check, then act later), so two
concurrent puts can pick the same free slot and one record overwrites the other's.

Invisible to one thread; two racing puts of different ids leave both ids pointing at
one slot: a ``get`` of the first returns the second's embedding and content.
"""

from __future__ import annotations

import threading
from typing import Any, ClassVar

from warmtier.failpoints import failpoint
from warmtier.store import WarmTierStore

CATEGORY = "concurrency"
CAUGHT_BY = ("concurrency",)


class AllocOutsideLockStore(WarmTierStore):
    """Reference store whose put picks its slot outside the lock (two puts share a slot)."""

    failpoint_names: ClassVar[tuple[str, ...]] = (
        *WarmTierStore.failpoint_names,
        "put.slot_chosen",
    )
    _chosen = threading.local()

    def put(self, id: str, embedding: Any, content: bytes | str, confidence: float = 1.0) -> None:
        with self._lock:
            self._ensure_open()
            peek = self._free_slots[-1] if self._free_slots else None
        # BUG: the lock is dropped between choosing the slot and using it.
        failpoint("put.slot_chosen")
        self._chosen.slot = peek
        try:
            super().put(id, embedding, content, confidence)
        finally:
            self._chosen.slot = None

    def _take_slot(self) -> int:
        peek = getattr(self._chosen, "slot", None)
        if peek is None:
            return super()._take_slot()
        self._chosen.slot = None
        if peek in self._free_slots:
            self._free_slots.remove(peek)
        return int(peek)  # BUG: even if another put took it meanwhile
