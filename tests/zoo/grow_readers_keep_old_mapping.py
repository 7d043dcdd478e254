"""Growth: readers keep the content mapping they were given at open or compaction; only
writers see the remapped (grown) arena.

Reads of records placed in the grown part are silently cut short: numpy slicing past the
end of the old mapping returns fewer bytes instead of failing.
"""

from __future__ import annotations

import numpy as np

from warmtier.format import SLOT_FIXED
from warmtier.records import Record
from warmtier.store import _F32, WarmTierStore, _make_record

CATEGORY = "growth"
CAUGHT_BY = ("properties",)
COPIED_FROM = {"_read": "c4807a210a9f"}


class ReadersKeepOldMappingStore(WarmTierStore):
    """Reference store whose get() reads through a content view that growth does not refresh."""

    def _remap(self) -> None:
        super()._remap()
        self._read_arena_mv = self._content_file.u8.data  # BUG: _grow_content never refreshes it

    def _read(self, i: int, id: str) -> Record:
        start = i * self._slot_size + SLOT_FIXED
        emb = np.frombuffer(self._slots_mv[start : start + 4 * self._dim].tobytes(), _F32)
        off = self._offsets.item(i)
        content = self._read_arena_mv[off : off + self._lengths.item(i)].tobytes()
        return _make_record(id, emb, content, self._confidences.item(i))
