"""Fixtures that let a pasted counterexample program run as a test.

A failing machine prints a program that starts ``state = StoreMachine()``. Paste it into a
test function that takes the fixture of that name; the fixture is the machine bound to
the store under test, exactly as the property test built it. See README.md.
"""

from __future__ import annotations

from typing import Any

import pytest

from warmtier.testing.machines import StoreMachineBase, store_machine


@pytest.fixture
def StoreMachine(store_class: type[Any]) -> type[StoreMachineBase]:
    """The machine of ``test_store_agrees_with_model_after_every_step`` (dim 4)."""
    return store_machine(store_class, dim=4)


@pytest.fixture
def StoreMachineDim1(store_class: type[Any]) -> type[StoreMachineBase]:
    """The machine of ``test_store_agrees_with_model_in_one_dimension_where_ties_abound``."""
    return store_machine(store_class, dim=1, name="StoreMachineDim1")
