"""Search: zero-norm embeddings are not special-cased; their scores are computed as
``dot / norm`` in Python floats, so any search over a store holding one raises
``ZeroDivisionError`` (the contract says such a record scores ``0.0``).
"""

from __future__ import annotations

from warmtier.store import WarmTierStore

from ._support import patch

CATEGORY = "search"
CAUGHT_BY = ("properties",)


@patch("_scores", old="extreme = live & (norms != 0.0) & (",
       new="extreme = live & (  # BUG: ``(norms != 0.0) &`` dropped ...")
@patch("_scores", old="""
    if extreme.any():
        rows = np.flatnonzero(extreme)
        exact = self._embeddings[rows].astype(np.float64) @ unit
        scores[rows] = exact / norms[rows]
    scores[norms == 0.0] = 0.0
""", new="""
    for i in np.flatnonzero(extreme).tolist():  # ... and no zero-norm fix-up
        exact = float(self._embeddings[i].astype(np.float64) @ unit)
        scores[i] = exact / float(norms[i])
""")
class ZeroNormCrashStore(WarmTierStore):
    """Reference store whose search divides by a zero norm."""
