"""Compaction: the new arena is installed, the lock is dropped, and only then are the
offsets rewritten; a reader in that window reads the new arena at the old offsets.

Invisible to one thread; a ``get``/``scan``/``put`` racing ``compact()`` sees wrong bytes
or writes through the wrong allocator.
"""

from __future__ import annotations

import time

from warmtier.store import WarmTierStore

from ._support import patch

CATEGORY = "compaction"
CAUGHT_BY = ("concurrency",)


@patch("_adopt", old="self._remap()", new="""
    self._remap()  # readers now see the new arena ...
    self._lock.release()  # BUG: ... and other threads get in before the offsets match it
    try:
        time.sleep(0)  # any other thread waiting for the lock runs now
    finally:
        self._lock.acquire()
""", time=time)
class SwapBeforeOffsetsStore(WarmTierStore):
    """Reference store whose compaction publishes the new arena before the offsets."""
