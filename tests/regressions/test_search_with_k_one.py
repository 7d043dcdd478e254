"""Regressions of ``search``'s ``k``: ``k=1`` is valid and returns the single best
record, and any ``k`` below the record count returns exactly ``k`` results.

The first was found by mutation testing (mutmut turned ``k < 1`` into ``k <= 1`` in
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


def test_search_returns_exactly_k_results_when_more_records_are_stored(
    make_store: Callable[..., Any],
) -> None:
    # Found by the bug zoo (search_topk_off_by_one): a top-k partition that kept k - 1
    # candidates escaped a ci run of the property suite while its shrinker ran out of time.
    store = make_store(dim=2)
    for i in range(6):
        store.put(f"r{i}", [1.0, 0.1 * (i + 1)], b"")
    for k in (1, 2, 3, 5):
        result = store.search([1.0, 0.0], k=k)
        expected = [f"r{i}" for i in range(k)]
        assert [name for name, _ in result] == expected, (
            f"search(k={k}) over 6 records: expected {expected}; got {result!r}"
        )
