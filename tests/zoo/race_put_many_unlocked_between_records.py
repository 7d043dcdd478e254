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
    for (id, raw_id, emb, data, conf), norm in zip(rows, norms, strict=True):
        self._put_locked(id, raw_id, emb, data, conf, norm)
""", new="""
    for (id, raw_id, emb, data, conf), norm in zip(rows, norms, strict=True):
        self._put_locked(id, raw_id, emb, data, conf, norm)
        self._lock.release()  # BUG: other threads run between two records of the batch
        time.sleep(0)
        self._lock.acquire()
""", time=time)
class UnlockedBatchStore(WarmTierStore):
    """Reference store whose put_many is not one atomic operation."""
