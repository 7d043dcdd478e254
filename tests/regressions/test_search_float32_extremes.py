"""Regressions of ``search`` over embeddings at the float32 extremes: values near the
float32 maximum (whose squares overflow float32) and subnormals (whose squares vanish)
are ordinary finite embeddings, and their cosine scores are those of any other.

The bug zoo's ``search_float32_norms`` (norms and products in float32 throughout) gave
such records a score of 0 or NaN-turned-0. The store machine finds it only when its
generic strategy happens to put extremes and search them: it escaped the ci profile in
one slow run of three. This states the case directly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from warmtier.records import Record
from warmtier.testing.compare import assert_search_matches

F32 = np.finfo(np.float32)
#: Records whose embeddings sit at the float32 extremes, and two ordinary ones.
EXTREMES: dict[str, list[float]] = {
    "huge": [float(F32.max), float(F32.max) / 2, 0.0],
    "huge_negative": [-float(F32.max), 0.0, float(F32.max) / 4],
    "subnormal": [float(F32.smallest_subnormal) * 3, float(F32.smallest_subnormal), 0.0],
    "tiny_normal": [0.0, float(F32.smallest_normal), float(F32.smallest_normal) * 2],
    "plain": [1.0, 0.5, 0.0],
    "other": [0.0, -1.0, 1.0],
}


def test_search_scores_float32_extreme_embeddings_as_exact_cosines(
    make_store: Callable[..., Any],
) -> None:
    store = make_store(dim=3)
    records = []
    for name, values in EXTREMES.items():
        embedding = np.array(values, np.float32)
        store.put(name, embedding, b"")
        records.append(Record(name, embedding, b"", 1.0))
    for query in ([1.0, 0.5, 0.0], [0.0, 1.0, 2.0], [-1.0, 0.0, 0.25], [1.0, 1.0, 1.0]):
        for k in (1, 3, len(EXTREMES)):
            assert_search_matches(store.search(query, k=k), query, k, records)
