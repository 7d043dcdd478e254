"""Persistence: a record with empty content is never written or published on disk (the
slot write sits under ``if data:``); it lives in memory only and vanishes on reopen.
"""

from __future__ import annotations

from warmtier.store import WarmTierStore

from ._support import patch

CATEGORY = "persistence"
CAUGHT_BY = ("properties",)


@patch("_put_locked", old="""
    seq = self._write(slot, raw_id, emb, data, conf, norm, off)
    self._publish(slot, seq)
""", new="""
    if data:  # BUG: "nothing to write" -- but the slot still has to be published
        seq = self._write(slot, raw_id, emb, data, conf, norm, off)
        self._publish(slot, seq)
""")
class EmptyContentUnpublishedStore(WarmTierStore):
    """Reference store that skips the slot write for empty content."""
