"""Growth: when the arena cannot grow (``CapacityError``), ``put`` forgets to give back
the slot it already took.

The failed call is supposed to change nothing; instead one slot is leaked per refusal,
``check()`` reports it, and a store at its slot limit eventually refuses every put.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from warmtier.failpoints import failpoint
from warmtier.store import WarmTierStore
from warmtier.validation import (
    validate_confidence,
    validate_content,
    validate_embedding,
    validate_id,
)

CATEGORY = "growth"
CAUGHT_BY = ("crash", "properties")
COPIED_FROM = {"put": "c6a8d0a801b2"}


class CapacityErrorLeaksSlotStore(WarmTierStore):
    """Reference store whose put leaks a slot when content space runs out."""

    def put(self, id: str, embedding: Any, content: bytes | str, confidence: float = 1.0) -> None:
        raw_id = validate_id(id)
        emb = validate_embedding(embedding, self._dim)
        data = validate_content(content, self._max_content)
        conf = validate_confidence(confidence)
        e64 = emb.astype(np.float64)
        norm = float(np.sqrt(np.dot(e64, e64)))
        with self._lock:
            self._ensure_open()
            slot = self._take_slot()
            off = self._take_extent(len(data)) if data else 0  # BUG: the slot leaks on error
            try:
                self._write_and_publish(slot, raw_id, emb, data, conf, norm, off)
            except BaseException:
                self._free_slots.append(slot)
                if data:
                    self._alloc.free(off, len(data))
                raise
            # Published: from here on only in-memory bookkeeping that cannot fail.
            old = self._index.get(id)
            if old is not None:
                self._retire_replaced(old, id)
            self._index[id] = slot
            self._slot_ids[slot] = id
            self._live[slot] = True
            self._offsets[slot] = off
            self._lengths[slot] = len(data)
            self._norms[slot] = norm
            self._confidences[slot] = conf
            self._live_bytes += len(data)
            failpoint("put.after_publish")
