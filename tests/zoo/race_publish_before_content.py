"""Put points the id at its new slot before the slot body (embedding, checksum) is
written, and ``get`` reads optimistically without the lock (look up the slot, read it,
retry if the id moved meanwhile), trusting put to publish last.

Invisible to one thread; a ``get`` that lands in the short window between the publish
and the slot write (a failpoint call and one copy) returns the new content with the
slot's old embedding: a mixed record.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

from warmtier.failpoints import failpoint
from warmtier.format import SLOT_FIXED, slot_checksum
from warmtier.records import Record
from warmtier.store import _FIXED, WarmTierStore
from warmtier.validation import (
    validate_confidence,
    validate_content,
    validate_embedding,
    validate_id,
)

CATEGORY = "concurrency"
CAUGHT_BY = ("concurrency",)


class PublishBeforeContentStore(WarmTierStore):
    """Reference store whose put makes the record visible before its slot is written."""

    def get(self, id: str) -> Record | None:
        validate_id(id)
        self._ensure_open()
        while True:  # an optimistic lock-free read: "put publishes last, so this is safe"
            i = self._index.get(id)
            if i is None:
                return None
            try:
                record = self._read(i, id)
            except (IndexError, ValueError):
                continue
            if self._index.get(id) == i:  # the id did not move while we read
                return record

    def put(self, id: str, embedding: Any, content: bytes | str, confidence: float = 1.0) -> None:
        raw_id = validate_id(id)
        emb = validate_embedding(embedding, self._dim)
        data = validate_content(content, self._max_content)
        conf = validate_confidence(confidence)
        norm = float(np.sqrt(np.dot(emb.astype(np.float64), emb.astype(np.float64))))
        with self._lock:
            self._ensure_open()
            slot = self._take_slot()
            try:
                off = self._take_extent(len(data)) if data else 0
            except BaseException:
                self._free_slots.append(slot)
                raise
            try:
                failpoint("put.after_alloc")
                if data:
                    self._arena_mv[off : off + len(data)] = data
                failpoint("put.after_content")
                seq = self._next_seq
                self._next_seq += 1
                buf = bytearray(self._slot_size)
                _FIXED.pack_into(buf, 0, 0, len(raw_id), 0, seq, off, len(data), conf, norm)
                buf[48 : 48 + len(raw_id)] = raw_id
                buf[SLOT_FIXED : SLOT_FIXED + 4 * self._dim] = emb.tobytes()
                crc = slot_checksum(memoryview(buf), data)
                struct.pack_into("<IHHQ", buf, 0, crc, len(raw_id), 0, 0)
            except BaseException:
                self._free_slots.append(slot)
                if data:
                    self._alloc.free(off, len(data))
                raise
            self._offsets[slot] = off
            self._lengths[slot] = len(data)
            self._norms[slot] = norm
            self._confidences[slot] = conf
            self._slot_ids[slot] = id
            self._live[slot] = True
            old = self._index.get(id)
            # BUG: the id points at the new slot before the slot body goes down.
            self._index[id] = slot
            failpoint("put.before_publish")
            start = slot * self._slot_size
            self._slots_mv[start : start + self._slot_size] = buf
            self._seqs[slot] = seq
            if old is not None:
                self._retire_replaced(old, id)
            self._live_bytes += len(data)
            failpoint("put.after_publish")
