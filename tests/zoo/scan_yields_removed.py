"""Scan: each batch reads the slots remembered when the scan started without checking
that the ids are still live, so a record removed mid-scan is yielded from its released
slot (zeroed offsets: the old embedding with empty content, or a reused slot's data).
"""

from __future__ import annotations

from warmtier.store import WarmTierStore

from ._support import patch

CATEGORY = "scan"
CAUGHT_BY = ("concurrency", "properties")


@patch("scan", old="""
    names = [str(slot_ids[i]) for i in np.flatnonzero(self._table.live).tolist()]
""", new="""
    live = np.flatnonzero(self._table.live).tolist()
    names = [(str(slot_ids[i]), i) for i in live]  # BUG: the slots are remembered too ...
""")
@patch("_scan_batches", old="""
    index = self._index
    found = [(name, index[name]) for name in batch if name in index]
    if not found:
        continue
""", new="""
    found = batch  # BUG: ... and read without ``if name in index``
""")
class ScanYieldsRemovedStore(WarmTierStore):
    """Reference store whose scan trusts its starting snapshot of slots."""
