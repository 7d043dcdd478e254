"""Search: the top-k partition keeps ``k - 1`` candidates (``argpartition(-s, k - 1)[:k - 1]``),
so a search with ``k < len(store)`` returns one result too few unless a tie pads it out.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from warmtier.store import _SAFE_NORM, WarmTierStore
from warmtier.validation import validate_k, validate_query

CATEGORY = "search"
CAUGHT_BY = ("regressions", "properties")
COPIED_FROM = {"search": "f9be4459eace"}


class TopKOffByOneStore(WarmTierStore):
    """Reference store whose search drops the k-th best result."""

    def search(self, query: Any, k: int = 10) -> list[tuple[str, float]]:
        q = validate_query(query, self._dim)
        k = validate_k(k)
        q64 = q.astype(np.float64)
        qnorm = float(np.linalg.norm(q64))
        unit = q64 / qnorm
        with self._lock:
            self._ensure_open()
            n = len(self._index)
            if n == 0:
                return []
            live = self._live
            norms = self._norms
            with np.errstate(all="ignore"):
                raw = self._embeddings @ unit.astype(np.float32)
                scores = raw.astype(np.float64) / norms
            extreme = live & (norms != 0.0) & (
                (norms < _SAFE_NORM[0]) | (norms > _SAFE_NORM[1]) | ~np.isfinite(scores)
            )
            if extreme.any():
                rows = np.flatnonzero(extreme)
                exact = self._embeddings[rows].astype(np.float64) @ unit
                scores[rows] = exact / norms[rows]
            scores[norms == 0.0] = 0.0
            np.clip(scores, -1.0, 1.0, out=scores)
            cand = np.flatnonzero(live)
            s = scores[cand]
            if k < len(cand):
                top = np.argpartition(-s, k - 1)[: max(k - 1, 1)]  # BUG: k - 1
                kth = s[top].min()
                keep = s >= kth
                cand, s = cand[keep], s[keep]
            slot_ids = self._slot_ids
            pairs = [(slot_ids[i], float(v)) for i, v in zip(cand.tolist(), s.tolist(),
                                                             strict=True)]
        pairs.sort(key=lambda p: (-p[1], p[0]))
        return [(str(name), score) for name, score in pairs[:k]]
