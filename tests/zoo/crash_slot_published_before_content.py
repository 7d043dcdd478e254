"""Crash ordering: ``put`` publishes the slot (writes its sequence number) before it
copies the content into the arena.

A failure between the two -- an exception at ``put.after_content``, a full disk, a kill
-- leaves a published slot whose content was never written: the store reports the put
as failed while the disk holds it, and ``check()`` finds a free slot still published.
"""

from __future__ import annotations

import struct

from warmtier.failpoints import failpoint
from warmtier.format import SLOT_FIXED, slot_checksum
from warmtier.records import Embedding
from warmtier.store import _FIXED, WarmTierStore

CATEGORY = "crash"
CAUGHT_BY = ("crash", "concurrency")
COPIED_FROM = {"_write_and_publish": "48690edb5209"}


class SlotPublishedBeforeContentStore(WarmTierStore):
    """Reference store whose put writes slot, seq, then content."""

    def _write_and_publish(self, slot: int, raw_id: bytes, emb: Embedding, data: bytes,
                           conf: float, norm: float, off: int) -> None:
        failpoint("put.after_alloc")
        seq = self._next_seq
        self._next_seq += 1
        buf = bytearray(self._slot_size)
        _FIXED.pack_into(buf, 0, 0, len(raw_id), 0, seq, off, len(data), conf, norm)
        buf[48 : 48 + len(raw_id)] = raw_id
        buf[SLOT_FIXED : SLOT_FIXED + 4 * self._dim] = emb.tobytes()
        crc = slot_checksum(memoryview(buf), data)
        struct.pack_into("<IHHQ", buf, 0, crc, len(raw_id), 0, 0)  # the body goes down unpublished
        start = slot * self._slot_size
        self._slots_mv[start : start + self._slot_size] = buf
        failpoint("put.before_publish")
        self._seqs[slot] = seq  # BUG: published before the content below is written
        if data:
            self._arena_mv[off : off + len(data)] = data
        failpoint("put.after_content")
