"""Search: zero-norm embeddings are not special-cased; their scores are computed as
``dot / norm``, which is ``0 / 0``, so a search over a store holding one returns a NaN
score or loses it from the ranking (the contract says such a record scores ``0.0``).
"""

from __future__ import annotations

from warmtier.store import WarmTierStore

from ._support import patch

CATEGORY = "search"
CAUGHT_BY = ("properties",)


@patch("_scores", old="scores[norms == 0.0] = 0.0",
       new="pass  # BUG: no zero-norm fix-up: 0 / 0 is NaN, and NaN is no score")
class ZeroNormCrashStore(WarmTierStore):
    """Reference store whose search divides by a zero norm."""
