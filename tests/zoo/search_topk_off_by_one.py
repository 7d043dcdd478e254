"""Search: the top-k partition keeps ``k - 1`` candidates (``argpartition(-s, k - 1)[:k - 1]``),
so a search with ``k < len(store)`` returns one result too few unless a tie pads it out.
"""

from __future__ import annotations

from warmtier.store import WarmTierStore

from ._support import patch

CATEGORY = "search"
CAUGHT_BY = ("regressions", "properties")


@patch("_top_k", old="top = np.argpartition(-s, k - 1)[:k]",
       new="top = np.argpartition(-s, k - 1)[: max(k - 1, 1)]  # BUG: k - 1")
class TopKOffByOneStore(WarmTierStore):
    """Reference store whose search drops the k-th best result."""
