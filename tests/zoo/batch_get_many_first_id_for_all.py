"""Batch: get_many labels every record it reads with the batch's first id, so any batch
of two or more live ids hands back records under the wrong id.
"""

from __future__ import annotations

from warmtier.store import WarmTierStore

from ._support import patch

CATEGORY = "batch"
CAUGHT_BY = ("unit", "properties")
QUICK = ("tests/unit/test_batch_calls.py",)


@patch("get_many", old="out.append(None if i is None else read(i, id))",
       new="out.append(None if i is None else read(i, wanted[0]))  # BUG: the first id")
class FirstIdForAllStore(WarmTierStore):
    """Reference store whose get_many returns records under the first id of the batch."""
