"""Growth: when the arena cannot grow (``CapacityError``), ``put`` forgets to give back
the slot it already took.

The failed call is supposed to change nothing; instead one slot is leaked per refusal,
``check()`` reports it, and a store at its slot limit eventually refuses every put.
"""

from __future__ import annotations

from warmtier.store import WarmTierStore

from ._support import patch

CATEGORY = "growth"
CAUGHT_BY = ("crash", "properties")


@patch("_allocate", old="""
    try:
        return slot, self._take_extent(n) if n else 0
    except BaseException:
        self._free_slots.append(slot)
        raise
""", new="""
    return slot, self._take_extent(n) if n else 0  # BUG: the slot leaks on error
""")
class CapacityErrorLeaksSlotStore(WarmTierStore):
    """Reference store whose put leaks a slot when content space runs out."""
