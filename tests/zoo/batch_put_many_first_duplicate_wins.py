"""Batch: put_many drops a later duplicate id of the batch instead of letting it win.

A "deduplicating" batch keeps the first record of each id, so ``put_many([(a, x), (a, y)])``
stores ``x`` where a loop of ``put`` (and the extension's documentation) stores ``y``.
"""

from __future__ import annotations

from warmtier.store import WarmTierStore

from ._support import patch

CATEGORY = "batch"
CAUGHT_BY = ("unit", "properties")
QUICK = ("tests/unit/test_batch_calls.py",)


@patch("put_many", old="rows = [self._checked_row(j, r) for j, r in enumerate(records)]",
       new="""
    rows = [self._checked_row(j, r) for j, r in enumerate(records)]
    first = {row[0]: row for row in reversed(rows)}  # BUG: the first of each id survives
    rows = list(first.values())[::-1]
""")
class FirstDuplicateWinsStore(WarmTierStore):
    """Reference store whose put_many keeps the first record of a repeated id."""
