"""Replace: the superseded version's content extent is never queued for reuse (a leak).

Every overwrite strands the old bytes; the arena only grows, and the allocator's
allocated bytes drift away from the live and pending extents.
"""

from __future__ import annotations

from warmtier.store import WarmTierStore

from ._support import patch

CATEGORY = "replace"
CAUGHT_BY = ("properties",)


@patch("_retire_replaced", old="self._release_live(slot)", new="""
    # BUG: the old extent is dropped instead of joining _pending_extents.
    self._live_bytes -= int(self._table.lengths[slot])
    self._table.clear(slot)
""")
class LeakOldExtentStore(WarmTierStore):
    """Reference store that forgets the old extent of a replaced record."""
