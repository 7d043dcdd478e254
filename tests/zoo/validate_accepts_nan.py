"""Validation: the finiteness test of embeddings is ``np.isinf(...).any()``, which lets NaN
through; a NaN embedding is stored (and poisons every score computed against it).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from warmtier.errors import InvalidArgumentError
from warmtier.records import Embedding
from warmtier.store import WarmTierStore, _own_embedding
from warmtier.validation import validate_embedding

from ._support import rebind

CATEGORY = "validation"
CAUGHT_BY = ("unit", "properties")
QUICK = ("tests/unit/test_bad_input.py",)


def _embedding_without_nan_check(embedding: Any, dim: int, what: str = "embedding") -> Embedding:
    try:
        return validate_embedding(embedding, dim, what)
    except InvalidArgumentError:
        with np.errstate(all="ignore"):
            arr = np.asarray(embedding, dtype=np.float32) if not isinstance(
                embedding, (str, bytes, bytearray, memoryview)) else None
        if arr is None or arr.ndim != 1 or arr.shape[0] != dim or np.isinf(arr).any():
            raise
        return arr.copy()  # BUG: only infinities were refused; NaN passes


class AcceptsNanStore(WarmTierStore):
    """Reference store whose put refuses inf but stores NaN."""

    # put converts (``_own_embedding``, which copies a float32 array as it is); ``_norm`` is
    # where a float32 array's NaN is found
    put = rebind(WarmTierStore.put, _own_embedding=rebind(
        _own_embedding, validate_embedding=_embedding_without_nan_check))
    _norm = rebind(WarmTierStore._norm, validate_embedding=_embedding_without_nan_check)
