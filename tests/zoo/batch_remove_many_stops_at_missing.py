"""Batch: remove_many stops at the first id that is not there, leaving the ids after it
in the store (each is reported False), where a loop of ``remove`` removes them.
"""

from __future__ import annotations

from warmtier.store import WarmTierStore

from ._support import patch

CATEGORY = "batch"
CAUGHT_BY = ("unit", "properties")
QUICK = ("tests/unit/test_batch_calls.py",)


@patch("remove_many", old="return [self.remove(id) for id in wanted]", new="""
    out: list[bool] = []
    for id in wanted:
        out.append(self.remove(id))
        if not out[-1]:  # BUG: a missing id ends the batch
            break
    return out + [False] * (len(wanted) - len(out))
""")
class StopsAtMissingStore(WarmTierStore):
    """Reference store whose remove_many gives up at a missing id."""
