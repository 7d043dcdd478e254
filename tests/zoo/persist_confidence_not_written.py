"""Persistence: the slot on disk is written with the default confidence 1.0 instead of
the record's; memory holds the right value, so only a reopen (or ``check()``) shows it.
"""

from __future__ import annotations

from warmtier.records import Embedding
from warmtier.store import WarmTierStore

CATEGORY = "persistence"
CAUGHT_BY = ("properties",)


class ConfidenceNotWrittenStore(WarmTierStore):
    """Reference store that persists every confidence as 1.0."""

    def _write(self, slot: int, raw_id: bytes, emb: Embedding, data: bytes, conf: float,
               norm: float, off: int) -> int:
        # BUG: the slot is packed with the default confidence, not ``conf``.
        return super()._write(slot, raw_id, emb, data, 1.0, norm, off)
