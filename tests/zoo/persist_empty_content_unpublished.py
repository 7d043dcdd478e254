"""Persistence: a record with empty content is never written or published on disk (the
slot write sits under ``if data:``); it lives in memory only and vanishes on reopen.
"""

from __future__ import annotations

from warmtier.records import Embedding
from warmtier.store import WarmTierStore

CATEGORY = "persistence"
CAUGHT_BY = ("properties",)


class EmptyContentUnpublishedStore(WarmTierStore):
    """Reference store that skips the slot write for empty content."""

    def _write_and_publish(self, slot: int, raw_id: bytes, emb: Embedding, data: bytes,
                           conf: float, norm: float, off: int) -> None:
        if data:  # BUG: "nothing to write" -- but the slot still has to be published
            super()._write_and_publish(slot, raw_id, emb, data, conf, norm, off)
