"""Growth: readers keep the content mapping they were given at open or compaction; only
writers see the remapped (grown) arena.

Reads of records placed in the grown part are silently cut short: numpy slicing past the
end of the old mapping returns fewer bytes instead of failing.
"""

from __future__ import annotations

from warmtier.store import WarmTierStore

from ._support import patch

CATEGORY = "growth"
CAUGHT_BY = ("properties",)


@patch("_read", old="content = self._arena_mv[off : off + n].tobytes()",
       new="content = self._read_arena_mv[off : off + n].tobytes()")
class ReadersKeepOldMappingStore(WarmTierStore):
    """Reference store whose get() reads through a content view that growth does not refresh."""

    def _remap(self) -> None:
        super()._remap()
        self._read_arena_mv = self._content_file.u8.data  # BUG: _grow_content never refreshes it
