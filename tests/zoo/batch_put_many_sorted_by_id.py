"""Batch: put_many writes its records sorted by id ("index order is faster") instead of in
the order given.

The sort is stable, so a later duplicate still wins and the batch ends where a loop of
``put`` ends: every check of the finished call passes. Only a kill in the middle shows
it: a record given late is on disk while one given before it is not, which is no prefix
of the batch.
"""

from __future__ import annotations

from warmtier.store import WarmTierStore

from ._support import patch

CATEGORY = "batch"
CAUGHT_BY = ("crash",)
QUICK = ("tests/crash/test_crash_kills.py::"
         "test_a_kill_between_the_records_of_a_batch_recovers_the_completed_operations_and_a_"
         "prefix_of_it",)


@patch("put_many", old="rows = [self._checked_row(j, r) for j, r in enumerate(records)]",
       new="""
    rows = [self._checked_row(j, r) for j, r in enumerate(records)]
    rows.sort(key=lambda row: row[0])  # BUG: written in id order, not the order given
""")
class SortedBatchStore(WarmTierStore):
    """Reference store whose put_many writes the batch in id order."""
