"""Fixtures of the scale suite: store factories that go through the public contract only."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def scale_store(store_class: type[Any], scale_tmp: Path) -> Iterator[Callable[[int], Any]]:
    """``scale_store(dim)``: a fresh store of the class under test in a scratch directory
    that is deleted after the test; every store made is closed at teardown."""
    made: list[Any] = []

    def factory(dim: int) -> Any:
        store = store_class.create(scale_tmp / f"store-{len(made)}", dim=dim)
        made.append(store)
        return store

    yield factory
    for store in made:
        with contextlib.suppress(Exception):
            store.close()


@pytest.fixture
def reopen_store(store_class: type[Any]) -> Callable[[str], Any]:
    """``reopen_store(path)``: ``store_class.open(path)``."""
    return lambda path: store_class.open(path)
