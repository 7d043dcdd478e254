"""Fixtures that let a pasted counterexample program run as a test.

A failing machine prints a program that starts ``state = StoreMachine()``. Paste it into a
test function that takes the fixture of that name; the fixture is the machine bound to
the store under test, exactly as the property test built it. See README.md.
"""

from __future__ import annotations

from typing import Any

import pytest

from warmtier.testing.properties.machines import StoreMachineBase, store_machine
from warmtier.testing.subject import SIZING_HINTS, Subject


def _skipping_options_the_store_lacks(machine: type[StoreMachineBase],
                                      subject: Subject) -> type[StoreMachineBase]:
    """``machine`` whose ``create`` skips the test when the program passes an option,
    other than a sizing hint (those the machine drops), that the store does not take."""

    class Pasted(machine):  # type: ignore[valid-type,misc]
        def create(self, options: dict[str, Any]) -> None:
            missing = sorted(set(options) - set(subject.create_options) - set(SIZING_HINTS))
            if missing:
                pytest.skip(f"the program creates the store with {', '.join(missing)}, "
                            f"which {subject.spec}.create does not take")
            super().create(options)

    Pasted.__name__ = Pasted.__qualname__ = machine.__name__
    return Pasted


@pytest.fixture
def StoreMachine(subject: Subject) -> type[StoreMachineBase]:
    """The machine of ``test_store_agrees_with_model_after_every_step`` (dim 4)."""
    return _skipping_options_the_store_lacks(store_machine(subject.cls, dim=4), subject)


@pytest.fixture
def StoreMachineDim1(subject: Subject) -> type[StoreMachineBase]:
    """The machine of ``test_store_agrees_with_model_in_one_dimension_where_ties_abound``."""
    return _skipping_options_the_store_lacks(
        store_machine(subject.cls, dim=1, name="StoreMachineDim1"), subject)
