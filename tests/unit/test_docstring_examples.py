"""The examples in the docstrings of warmtier's modules run and show what they say: they
are documentation, and documentation that no longer holds misleads."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import warmtier

pytestmark = pytest.mark.reference_only

MODULES = sorted(m.name for m in pkgutil.walk_packages(warmtier.__path__, "warmtier."))


@pytest.mark.parametrize("name", MODULES)
def test_every_example_in_a_module_s_docstrings_shows_what_it_says(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.failed == 0, (
        f"{result.failed} of {result.attempted} docstring examples in {name} do not show "
        f"what they say (printed above); replay: python -m pytest --doctest-modules "
        f"{module.__file__}")
