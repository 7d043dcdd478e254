"""Race: put_many lets go of the lock between two records of the batch, so another
thread's call (a get_many, a remove) sees half a batch, which one atomic operation
never shows (docs/contract-extensions.md: no call falls between two records of it).
"""

from __future__ import annotations

import time

from warmtier.store import WarmTierStore

from ._support import patch

CATEGORY = "concurrency"
CAUGHT_BY = ("concurrency",)


@patch("put_many", old="""
    with self._lock:
        self._ensure_open()
        self._reserve_slots(len(rows))
        self._put_batch(batch)
""", new="""
    for j in range(len(rows)):  # BUG: the lock is taken per record, not for the batch
        with self._lock:
            self._ensure_open()
            self._put_batch(Batch.of(rows[j : j + 1], self._dim))
        time.sleep(0)
""", time=time)
class UnlockedBatchStore(WarmTierStore):
    """Reference store whose put_many is not one atomic operation."""
