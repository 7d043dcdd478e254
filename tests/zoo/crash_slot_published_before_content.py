"""Crash ordering: ``put`` publishes the slot (writes its sequence number) before it
copies the content into the arena.

A failure between the two -- an exception at ``put.after_content``, a full disk, a kill
-- leaves a published slot whose content was never written: the store reports the put
as failed while the disk holds it, and ``check()`` finds a free slot still published.
"""

from __future__ import annotations

from warmtier.failpoints import failpoint
from warmtier.records import Embedding
from warmtier.store import WarmTierStore

CATEGORY = "crash"
CAUGHT_BY = ("crash", "concurrency")
COPIED_FROM = {"_write_and_publish": "7e290770dae6"}


class SlotPublishedBeforeContentStore(WarmTierStore):
    """Reference store whose put writes slot, seq, then content."""

    def _write_and_publish(self, slot: int, raw_id: bytes, emb: Embedding, data: bytes,
                           conf: float, norm: float, off: int) -> None:
        failpoint("put.after_alloc")
        seq = self._next_seq
        self._next_seq += 1
        self._write_slot(slot, seq, raw_id, emb, data, conf, norm, off)
        failpoint("put.before_publish")
        self._seqs[slot] = seq  # BUG: published before the content below is written
        if data:
            self._arena_mv[off : off + len(data)] = data
        failpoint("put.after_content")
