"""Reads: ``get`` hands out the embedding as a read-only *view* of the mapped slot
instead of a copy (a "zero-copy" optimization); once the slot is reused, a Record the
caller already holds changes under it, and after ``close()`` it points at unmapped memory.
"""

from __future__ import annotations

from warmtier.records import Record
from warmtier.store import WarmTierStore, _make_record

CATEGORY = "reads"
CAUGHT_BY = ("regressions", "properties")
COPIED_FROM = {"_read": "6a9c7c4813f8"}


class SharedMappedEmbeddingStore(WarmTierStore):
    """Reference store whose records alias the slot file."""

    def _read(self, i: int, id: str) -> Record:
        emb = self._embeddings[i]  # BUG: no .copy()
        emb.flags.writeable = False
        off = int(self._offsets[i])
        content = self._arena[off : off + int(self._lengths[i])].tobytes()
        return _make_record(id, emb, content, float(self._confidences[i]))
