"""Regression of ``search``'s ties: records with identical embeddings tie exactly, and
the tie goes to the smaller id, however many slots the store holds.

Found by the nightly hot-id race: two ids holding the same embedding, and a search with
``k=1`` returned the larger one. The reference store scored from one BLAS product over
every slot, and BLAS does not give identical rows identical results (of n copies of one
8-float row, the last rows come out one bit apart whenever n is 2 or 3 past a multiple
of 4: a kernel's tail rounds differently).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

SAME = [0.0, -2.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.5]


def test_identical_embeddings_tie_and_the_smaller_id_comes_first(
    make_store: Callable[..., Any],
) -> None:
    embedding = np.array(SAME, np.float32)
    for n in (2, 3, 6, 7, 11, 4099):  # a matrix-vector product's tail rows round apart
        store = make_store(dim=8)
        for i in range(n):
            store.put(f"t{i:05d}", embedding, b"")
        for query in ([1.0] * 8, [0.0, -1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]):
            for k in (1, 2):
                result = store.search(query, k=k)
                expected = [f"t{i:05d}" for i in range(k)]
                assert [name for name, _ in result] == expected, (
                    f"search({query}, k={k}) over {n} identical embeddings: expected "
                    f"{expected} (ties by id); got {result!r}")
                assert len({s for _, s in result}) == 1, f"tied scores differ: {result!r}"
