"""Put takes the lock by hand and releases it on the success path only: an exception
that escapes put (a fault, a full disk) leaves the lock held for ever.

Invisible to one thread (the lock is reentrant); every other thread then blocks on its
next call.
"""

from __future__ import annotations

from typing import Any

from warmtier.store import WarmTierStore

CATEGORY = "concurrency"
CAUGHT_BY = ("concurrency",)


class LockLeakOnExceptionStore(WarmTierStore):
    """Reference store whose put leaks its lock when it raises."""

    def put(self, id: str, embedding: Any, content: bytes | str, confidence: float = 1.0) -> None:
        self._lock.acquire()
        super().put(id, embedding, content, confidence)
        self._lock.release()  # BUG: skipped when put raises (no try/finally)
