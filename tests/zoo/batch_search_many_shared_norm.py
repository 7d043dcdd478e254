"""Batch: search_many scales every query by the norm of the whole batch (the matrix's
Frobenius norm) instead of its own, so with two or more queries every score shrinks.
"""

from __future__ import annotations

from warmtier.store import WarmTierStore

from ._support import patch

CATEGORY = "batch"
CAUGHT_BY = ("unit", "properties")
QUICK = ("tests/unit/test_batch_calls.py",)


@patch("search_many", old="units = np.stack([_unit(q) for q in qs])", new="""
    q64 = np.stack(qs).astype(np.float64)
    units = q64 / np.linalg.norm(q64)  # BUG: one norm for the whole batch
""")
class SharedNormStore(WarmTierStore):
    """Reference store whose search_many normalizes the batch, not each query."""
