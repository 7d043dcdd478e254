"""Scan: the batch loop runs ``range(0, len(names) - 1, batch_size)``, so when the last
batch would hold exactly one record that record is never yielded (a store of one record
scans as empty).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from warmtier.records import Record
from warmtier.store import WarmTierStore, _make_record

CATEGORY = "scan"
CAUGHT_BY = ("properties",)
COPIED_FROM = {"_scan_batches": "d503d7a0f41c"}


class ScanMissesLastSingleStore(WarmTierStore):
    """Reference store whose scan drops a lone record in the final batch."""

    def _scan_batches(self, names: list[str], batch_size: int) -> Iterator[Record]:
        for start in range(0, len(names) - 1, batch_size):  # BUG: len(names) - 1
            batch = names[start : start + batch_size]
            with self._lock:
                self._ensure_open()
                index = self._index
                found = [(name, index[name]) for name in batch if name in index]
                if not found:
                    continue
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
