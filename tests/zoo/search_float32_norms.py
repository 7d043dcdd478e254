"""Search: norms and dot products in float32 overflow and underflow.

Without a float64 path, embeddings holding float32 extremes get an infinite norm (score
NaN or 0) and subnormal ones a zero norm, so their scores are wrong.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from warmtier.store import WarmTierStore
from warmtier.validation import validate_k, validate_query

CATEGORY = "search"
CAUGHT_BY = ("regressions", "properties")
QUICK = ("tests/regressions/test_search_float32_extremes.py",)


class Float32NormsStore(WarmTierStore):
    """Reference store whose search does all arithmetic in float32."""

    def search(self, query: Any, k: int = 10) -> list[tuple[str, float]]:
        q = validate_query(query, self._dim)
        k = validate_k(k)
        with self._lock:
            self._ensure_open()
            slots = np.flatnonzero(self._live)
            embs = self._embeddings[slots]
            with np.errstate(all="ignore"):
                norms = np.sqrt((embs * embs).sum(axis=1))  # BUG: float32 throughout
                qn = np.float32(np.sqrt((q * q).sum()))
                scores = (embs @ q) / (norms * qn)
            scores = np.where(norms == 0, np.float32(0), scores)
            scores = np.nan_to_num(scores, nan=0.0, posinf=1.0, neginf=-1.0)
            pairs = [(str(self._slot_ids[int(i)]), float(s)) for i, s in zip(slots, scores,
                                                                                 strict=True)]
        pairs.sort(key=lambda p: (-p[1], p[0]))
        return pairs[:k]
