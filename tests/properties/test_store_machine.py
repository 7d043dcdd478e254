"""The main job: the store machine drives the store under test through the contract and
compares every answer with the model after every step; the allocator machine does the
same for the offset allocator against an ownership map."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from warmtier.testing.machines import AllocatorMachine, store_machine
from warmtier.testing.profiles import machine_test, scaled


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
