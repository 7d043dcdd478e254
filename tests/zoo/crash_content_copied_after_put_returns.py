"""Crash ordering: ``put`` publishes the slot and returns before the content is in the
arena; the copy is deferred to the next read or durability point (a write-behind buffer).

Reads and ``flush`` drain the buffer first, so nothing shows while the process lives.
A kill after ``put`` returned but before the next flush leaves a published slot whose
content was never written: recovery drops it as torn, and a completed put is lost.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from warmtier.records import Embedding, Record
from warmtier.store import WarmTierStore

CATEGORY = "crash"
CAUGHT_BY = ("crash",)


class ContentCopiedAfterPutReturnsStore(WarmTierStore):
    """Reference store that publishes a slot before its content is written."""

    def _write(self, slot: int, raw_id: bytes, emb: Embedding, data: bytes, conf: float,
               norm: float, off: int) -> int:
        self.__dict__["_old_bytes"] = (off, data, self._arena[off : off + len(data)].tobytes())
        # Publish with the checksum of the real content, over the arena's old bytes ...
        return super()._write(slot, raw_id, emb, data, conf, norm, off)

    def _publish(self, slot: int, seq: int) -> None:
        super()._publish(slot, seq)
        off, data, current = self.__dict__.pop("_old_bytes")
        if data:
            # BUG: ... and put the old bytes back, to copy the content in "later".
            self._arena[off : off + len(data)] = np.frombuffer(current, np.uint8)
            self.__dict__.setdefault("_unwritten", []).append((off, data))

    def _drain(self) -> None:
        for off, data in self.__dict__.pop("_unwritten", []):
            self._arena[off : off + len(data)] = np.frombuffer(data, np.uint8)

    def _sync_and_mark(self) -> None:
        self._drain()
        super()._sync_and_mark()

    def _read(self, i: int, id: str) -> Record:
        self._drain()
        return super()._read(i, id)

    def _scan_batches(self, names: list[str], slots: Any, batch_size: int
                      ) -> Iterator[Record]:
        with self._lock:
            self._drain()
        return super()._scan_batches(names, slots, batch_size)

    def _violations(self) -> list[str]:
        self._drain()
        return super()._violations()
