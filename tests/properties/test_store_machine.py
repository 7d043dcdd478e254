"""The main job: the store machine drives the store under test through the contract and
compares every answer with the model after every step; the allocator machine does the
same for the offset allocator against an ownership map."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import Phase, settings

from tests.properties.confusable_id_stores import CONFUSING_STORES
from warmtier.model import ModelStore
from warmtier.testing.properties.machines import AllocatorMachine, run_machine, store_machine
from warmtier.testing.properties.profiles import scaled
from warmtier.testing.properties.pytest_plugin import machine_test
from warmtier.testing.properties.strategies import CONFUSABLE_FAMILIES


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


@pytest.mark.reference_only  # tests the binding, not the store
def test_each_binding_has_its_own_example_database_key() -> None:
    """Hypothesis keys a machine's saved examples by ``function_digest`` of its class: two
    bindings of one store must not replay each other's examples; the same binding twice
    (two runs of one test) must find its own."""
    from hypothesis.internal.reflection import function_digest

    from warmtier.model import ModelStore
    from warmtier.store import WarmTierStore

    bindings = {
        "WarmTierStore dim 4": store_machine(WarmTierStore, dim=4),
        "WarmTierStore dim 1": store_machine(WarmTierStore, dim=1, name="StoreMachineDim1"),
        "WarmTierStore dim 1, default name": store_machine(WarmTierStore, dim=1),
        "WarmTierStore dim 4, small contents": store_machine(WarmTierStore, dim=4,
                                                             max_content_size=1024),
        "ModelStore dim 4": store_machine(ModelStore, dim=4),
    }
    keys = {what: function_digest(machine) for what, machine in bindings.items()}
    shared = [what for what, key in keys.items() if list(keys.values()).count(key) > 1]
    assert shared == [], f"these bindings share an example-database key: {shared}"
    again = function_digest(store_machine(WarmTierStore, dim=4))
    assert again == keys["WarmTierStore dim 4"], (
        "the same binding made twice has another key\n  expected: "
        f"{keys['WarmTierStore dim 4'].hex()}\n  actual:   {again.hex()}"
    )


@pytest.mark.own_stores  # tests the id generators with stores of our own, not the store
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


@pytest.mark.own_stores
def test_teardown_removes_the_example_directory_even_when_close_raises(tmp_path: Path) -> None:
    class CloseRaises:
        def close(self) -> None:
            raise RuntimeError("close broke")

    machine = store_machine(ModelStore, dim=2, workdir=str(tmp_path))()
    machine.store = CloseRaises()
    with pytest.raises(RuntimeError, match="close broke"):
        machine.teardown()
    left = list(tmp_path.iterdir())
    assert left == [], f"expected the example's directory removed; left {left}"
