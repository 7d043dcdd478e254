"""Growth: readers keep the content mapping they were given at open or compaction; only
writers see the remapped (grown) arena.

Reads of records placed in the grown part are silently cut short: numpy slicing past the
end of the old mapping returns fewer bytes instead of failing.
"""

from __future__ import annotations

from warmtier.records import Record
from warmtier.store import WarmTierStore, _make_record

CATEGORY = "growth"
CAUGHT_BY = ("properties",)
COPIED_FROM = {"_read": "6a9c7c4813f8"}


class ReadersKeepOldMappingStore(WarmTierStore):
    """Reference store whose get() reads through a content view that growth does not refresh."""

    def _remap(self) -> None:
        super()._remap()
        self._read_arena = self._content_file.u8  # BUG: _grow_content never refreshes it

    def _read(self, i: int, id: str) -> Record:
        emb = self._embeddings[i].copy()
        emb.flags.writeable = False
        off = int(self._offsets[i])
        content = self._read_arena[off : off + int(self._lengths[i])].tobytes()
        return _make_record(id, emb, content, float(self._confidences[i]))

