"""Search: zero-norm embeddings are not special-cased; their scores are computed as
``dot / norm`` in Python floats, so any search over a store holding one raises
``ZeroDivisionError`` (the contract says such a record scores ``0.0``).
"""

from __future__ import annotations

from warmtier.store import WarmTierStore

from ._support import patch

CATEGORY = "search"
CAUGHT_BY = ("properties",)


@patch("_scores", old="extreme = (norms != 0.0) & (",
       new="extreme = (  # BUG: ``(norms != 0.0) &`` dropped ...")
@patch("_scores", old="""
    if extreme.any():
        exact = self._embeddings[rows[extreme]].astype(np.float64) @ unit
        scores[extreme] = exact / norms[extreme]
    scores[norms == 0.0] = 0.0
""", new="""
    for j in np.flatnonzero(extreme).tolist():  # ... and no zero-norm fix-up
        exact = float(self._embeddings[rows[j]].astype(np.float64) @ unit)
        scores[j] = exact / float(norms[j])
""")
class ZeroNormCrashStore(WarmTierStore):
    """Reference store whose search divides by a zero norm."""
