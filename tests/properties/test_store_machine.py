"""The main job: the store machine drives the store under test through the contract and
compares every answer with the model after every step; the allocator machine does the
same for the offset allocator against an ownership map."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import Phase, settings

from tests.properties.confusable_id_stores import CONFUSING_STORES
from warmtier.testing.machines import AllocatorMachine, run_machine, store_machine
from warmtier.testing.profiles import machine_test, scaled
from warmtier.testing.strategies import CONFUSABLE_FAMILIES


@machine_test
def test_store_agrees_with_model_after_every_step(
    store_class: type[Any], machine_runner: Callable[..., None]
) -> None:
    machine_runner(store_machine(store_class, dim=4))


@machine_test
def test_store_agrees_with_model_in_one_dimension_where_ties_abound(
    store_class: type[Any], machine_runner: Callable[..., None]
) -> None:
    machine_runner(
        store_machine(store_class, dim=1, name="StoreMachineDim1"),
        settings=scaled(0.5),
    )


@pytest.mark.reference_only
@machine_test
def test_allocator_never_overlaps_and_always_coalesces(
    machine_runner: Callable[..., None],
) -> None:
    machine_runner(AllocatorMachine, settings=scaled(2))


@pytest.mark.reference_only  # tests the id generators with stores of our own, not the store
@pytest.mark.parametrize("store", CONFUSING_STORES, ids=lambda cls: cls.__name__)
def test_store_machine_catches_a_store_that_merges_confusable_ids(store: type[Any]) -> None:
    """The ci profile finds two ids the store merges (case, normalization, trailing
    blanks, file names, truncation): the id strategies draw siblings of one
    ``CONFUSABLE_FAMILIES`` family in one test case."""
    ci = settings(settings.get_profile("ci"), database=None,
                  phases=[Phase.generate])  # caught is enough: no shrinking
    start = time.monotonic()
    try:
        run_machine(store_machine(store, dim=4, name=f"Machine{store.__name__}"), settings=ci)
    except AssertionError as exc:
        print(f"{store.__name__}: caught in {time.monotonic() - start:.1f}s: "
              f"{str(exc).splitlines()[0]}")
        return
    families = [f for f in CONFUSABLE_FAMILIES if len({store.key(i) for i in f}) < len(f)]
    pytest.fail(f"{store.__name__} merges ids of {len(families)} families of "
                f"CONFUSABLE_FAMILIES, but the ci profile did not catch it\n  expected: a "
                f"failing example\n  actual:   every example passed")
