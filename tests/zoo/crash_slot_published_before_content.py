"""Crash ordering: ``put`` publishes the slot (writes its sequence number) before it
copies the content into the arena.

A failure between the two -- an exception at ``put.after_content``, a full disk, a kill
-- leaves a published slot whose content was never written: the store reports the put
as failed while the disk holds it, and ``check()`` finds a free slot still published.
"""

from __future__ import annotations

import struct

import numpy as np

from warmtier.failpoints import failpoint
from warmtier.format import SLOT_FIXED, slot_checksum
from warmtier.records import Embedding
from warmtier.store import _FIXED, WarmTierStore

CATEGORY = "crash"
CAUGHT_BY = ("concurrency", "crash")


class SlotPublishedBeforeContentStore(WarmTierStore):
    """Reference store whose put writes slot, seq, then content."""

    def _write_and_publish(self, slot: int, raw_id: bytes, emb: Embedding, data: bytes,
                           conf: float, norm: float, off: int) -> None:
        failpoint("put.after_alloc")
        seq = self._next_seq
        self._next_seq += 1
        buf = bytearray(self._slot_size)
        _FIXED.pack_into(buf, 0, seq, 0, len(raw_id), 0, off, len(data), conf, norm)
        buf[48 : 48 + len(raw_id)] = raw_id
        buf[SLOT_FIXED : SLOT_FIXED + 4 * self._dim] = emb.tobytes()
        crc = slot_checksum(memoryview(buf), data)
        struct.pack_into("<QI", buf, 0, 0, crc)
        start = slot * self._slot_size
        self._slot_bytes[start : start + self._slot_size] = np.frombuffer(buf, np.uint8)
        failpoint("put.before_publish")
        self._seqs[slot] = seq  # BUG: published before the content below is written
        if data:
            self._arena[off : off + len(data)] = np.frombuffer(data, np.uint8)
        failpoint("put.after_content")
