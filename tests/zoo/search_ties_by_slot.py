"""Search: equal scores are left in slot order (a stable sort on the score alone)
instead of being ordered by id ascending as the contract requires.
"""

from __future__ import annotations

from warmtier.store import WarmTierStore

from ._support import patch

CATEGORY = "search"
CAUGHT_BY = ("properties",)


@patch("_top_k", old="pairs.sort(key=lambda p: (-p[1], p[0]))",
       new="pairs.sort(key=lambda p: -p[1])  # BUG: no id tie-break")
class SearchTiesBySlotStore(WarmTierStore):
    """Reference store whose search breaks ties by slot position."""
