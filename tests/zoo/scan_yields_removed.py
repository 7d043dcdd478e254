"""Scan: each batch reads the slots remembered when the scan started without checking
that the ids are still live, so a record removed mid-scan is yielded from its released
slot (zeroed offsets: the old embedding with empty content, or a reused slot's data).
"""

from __future__ import annotations

from warmtier.store import WarmTierStore

from ._support import patch

CATEGORY = "scan"
CAUGHT_BY = ("concurrency", "properties")


@patch("_scan_batches", old="""
    found, where = self._still_live(names[start : start + batch_size],
                                    slots[start : start + batch_size])
""", new="""
    # BUG: the slots remembered at the start are read without asking whether they still
    # hold their ids
    found, where = names[start : start + batch_size], slots[start : start + batch_size]
""")
class ScanYieldsRemovedStore(WarmTierStore):
    """Reference store whose scan trusts its starting snapshot of slots."""
