"""Concurrent stateful testing: Hypothesis draws a prefix and parallel branches, the
branches run under the controlled scheduler, and the outcome must be linearizable."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from warmtier.testing.concurrency.parallel import DIM, concurrent_property


def factory(store_class: type[Any], root: Path) -> Any:
    counter = itertools.count()
    return lambda: store_class.create(root / f"s{next(counter)}", dim=DIM)


@pytest.mark.promise("linearizable")
def test_parallel_branches_are_linearizable(store_class: type[Any], tmp_path: Path) -> None:
    concurrent_property(factory(store_class, tmp_path), max_examples=25)()


@pytest.mark.slow
@pytest.mark.promise("linearizable")
def test_parallel_branches_are_linearizable_over_many_examples(
    store_class: type[Any], tmp_path: Path
) -> None:
    concurrent_property(factory(store_class, tmp_path), max_examples=300)()
