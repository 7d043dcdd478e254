"""Reads: ``get`` hands out the embedding as a read-only *view* of the mapped slot
instead of a copy (a "zero-copy" optimization); once the slot is reused, a Record the
caller already holds changes under it, and after ``close()`` it points at unmapped memory.
"""

from __future__ import annotations

import numpy as np

from warmtier.format import SLOT_FIXED
from warmtier.records import Record
from warmtier.store import _F32, WarmTierStore, _make_record

CATEGORY = "reads"
CAUGHT_BY = ("regressions", "properties")
COPIED_FROM = {"_read": "c4807a210a9f"}


class SharedMappedEmbeddingStore(WarmTierStore):
    """Reference store whose records alias the slot file."""

    def _read(self, i: int, id: str) -> Record:
        start = i * self._slot_size + SLOT_FIXED
        # BUG: frombuffer straight over the mapped slot, no private copy
        emb = np.frombuffer(self._slots_mv[start : start + 4 * self._dim], _F32)
        emb.flags.writeable = False
        off = self._offsets.item(i)
        content = self._arena_mv[off : off + self._lengths.item(i)].tobytes()
        return _make_record(id, emb, content, self._confidences.item(i))
