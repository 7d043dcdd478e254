"""Batch: put_many finds a non-finite embedding only when it reaches that record, after
writing the records before it, so a refused batch is not "nothing written".
"""

from __future__ import annotations

from warmtier.store import WarmTierStore

from ._support import patch

CATEGORY = "batch"
CAUGHT_BY = ("unit", "properties")
QUICK = ("tests/unit/test_bad_input.py", "-k", "put_many")


@patch("put_many", old="batch = Batch.of(rows, self._dim)", new="""
    with self._lock:  # BUG: each record is checked only when it is reached, after the
        for j in range(len(rows)):  # records before it are written
            self._ensure_open()
            self._put_batch(Batch.of(rows[j : j + 1], self._dim))
    batch = Batch.of([], self._dim)
""")
class ChecksFinitenessLateStore(WarmTierStore):
    """Reference store whose put_many writes a prefix of a batch it then refuses."""
