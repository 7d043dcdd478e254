"""Reads: ``get`` hands out the embedding as a read-only *view* of the mapped slot
instead of a copy (a "zero-copy" optimization); once the slot is reused, a Record the
caller already holds changes under it, and after ``close()`` it points at unmapped memory.
"""

from __future__ import annotations

from warmtier.store import WarmTierStore

from ._support import patch

CATEGORY = "reads"
CAUGHT_BY = ("regressions", "properties")


@patch("_read",
       old="emb = np.frombuffer(self._emb_mv[start : start + 4 * self._dim].tobytes(), _F32)",
       new="""
    # BUG: frombuffer straight over the mapped row, no private copy
    emb = np.frombuffer(self._emb_mv[start : start + 4 * self._dim], _F32)
    emb.flags.writeable = False
""")
class SharedMappedEmbeddingStore(WarmTierStore):
    """Reference store whose records alias the slot file."""
