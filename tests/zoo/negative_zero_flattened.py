"""Put: ``-0.0`` in an embedding is stored as ``+0.0``.

A "normalizing" ``+ 0.0`` on the float32 copy flips the sign of negative zeros, so the
embedding is no longer returned bit-exact.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from warmtier.store import WarmTierStore
from warmtier.validation import validate_embedding

CATEGORY = "put"
CAUGHT_BY = ("properties",)


class FlattensNegativeZeroStore(WarmTierStore):
    """Reference store that adds 0.0 to every embedding."""

    def put(self, id: str, embedding: Any, content: bytes | str, confidence: float = 1.0) -> None:
        try:
            emb = validate_embedding(embedding, self._dim)
        except ValueError:
            emb = embedding  # let the real put refuse it the normal way
        else:
            emb = emb + np.float32(0.0)  # BUG: -0.0 + 0.0 == +0.0
        super().put(id, emb, content, confidence)
