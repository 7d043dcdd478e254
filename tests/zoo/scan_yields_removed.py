"""Scan: each batch reads the slots remembered when the scan started without checking
that the ids are still live, so a record removed mid-scan is yielded from its released
slot (zeroed offsets: the old embedding with empty content, or a reused slot's data).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from warmtier.errors import InvalidArgumentError
from warmtier.records import Record
from warmtier.store import WarmTierStore, _make_record

CATEGORY = "scan"
CAUGHT_BY = ("concurrency", "properties")
COPIED_FROM = {"scan": "0b044f2d7458", "_scan_batches": "d503d7a0f41c"}


class ScanYieldsRemovedStore(WarmTierStore):
    """Reference store whose scan trusts its starting snapshot of slots."""

    def scan(self, batch_size: int = 1024) -> Iterator[Record]:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidArgumentError(f"batch_size must be a positive int; got {batch_size!r}")
        with self._lock:
            self._ensure_open()
            slot_ids = self._slot_ids
            snapshot = [(str(slot_ids[i]), i) for i in np.flatnonzero(self._live).tolist()]
        return self._scan_snapshot(snapshot, batch_size)

    def _scan_snapshot(self, snapshot: list[tuple[str, int]],
                       batch_size: int) -> Iterator[Record]:
        for start in range(0, len(snapshot), batch_size):
            found = snapshot[start : start + batch_size]  # BUG: no ``if name in index``
            with self._lock:
                self._ensure_open()
                where = np.fromiter((i for _, i in found), dtype=np.int64, count=len(found))
                embs = self._embeddings[where]
                embs.flags.writeable = False
                offs = self._offsets[where].tolist()
                lens = self._lengths[where].tolist()
                confs = self._confidences[where].tolist()
                arena = self._arena
                contents = [arena[o : o + n].tobytes() for o, n in zip(offs, lens, strict=True)]
            for j, (name, _) in enumerate(found):
                yield _make_record(name, embs[j], contents[j], confs[j])
