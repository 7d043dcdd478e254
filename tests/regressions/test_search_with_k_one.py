"""Regression: ``search(query, k=1)`` is valid and returns exactly the best record.

Found by mutation testing (mutmut turned ``k < 1`` into ``k <= 1`` in
``warmtier.validation.validate_k``): the store machine searches with ``k`` from 1 up,
but the model validates ``k`` with the same function as the store, so both refused
``k=1`` alike and the differential comparison saw nothing wrong. Rules the model shares
with the store need a test that states them directly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def test_search_with_k_one_returns_the_single_best_record(
    make_store: Callable[..., Any],
) -> None:
    store = make_store(dim=2)
    store.put("near", [1.0, 0.1], b"")
    store.put("far", [0.0, 1.0], b"")
    result = store.search([1.0, 0.0], k=1)
    assert [name for name, _ in result] == ["near"], f"expected [('near', ...)]; got {result!r}"
