"""Scan: the batch loop runs ``range(0, len(names) - 1, batch_size)``, so when the last
batch would hold exactly one record that record is never yielded (a store of one record
scans as empty).
"""

from __future__ import annotations

from warmtier.store import WarmTierStore

from ._support import patch

CATEGORY = "scan"
CAUGHT_BY = ("properties",)


@patch("_scan_batches", old="for start in range(0, len(names), batch_size):",
       new="for start in range(0, len(names) - 1, batch_size):  # BUG: len(names) - 1")
class ScanMissesLastSingleStore(WarmTierStore):
    """Reference store whose scan drops a lone record in the final batch."""
