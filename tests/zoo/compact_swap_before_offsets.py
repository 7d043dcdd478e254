"""Compaction: the new arena is installed, the lock is dropped, and only then are the
offsets rewritten; a reader in that window reads the new arena at the old offsets.

Invisible to one thread; a ``get``/``scan``/``put`` racing ``compact()`` sees wrong bytes
or writes through the wrong allocator.
"""

from __future__ import annotations

import time

import numpy as np
import numpy.typing as npt

from warmtier.format import Header
from warmtier.mapped import MappedFile
from warmtier.store import WarmTierStore

CATEGORY = "compaction"
CAUGHT_BY = ("concurrency",)
COPIED_FROM = {"_adopt": "52d2aa5643ef"}


class SwapBeforeOffsetsStore(WarmTierStore):
    """Reference store whose compaction publishes the new arena before the offsets."""

    def _adopt(self, header: Header, slots: MappedFile, content: MappedFile,
               order: npt.NDArray[np.int64], new_offs: npt.NDArray[np.int64]) -> None:
        # Phase one: switch the files and views (readers now see the new arena) ...
        self._header = header
        self._slots_file, self._content_file = slots, content
        self._remap()
        # BUG: ... and let other threads in before the offsets match that arena.
        self._lock.release()
        try:
            time.sleep(0)  # any other thread waiting for the lock runs now
        finally:
            self._lock.acquire()
        super()._adopt(header, slots, content, order, new_offs)
