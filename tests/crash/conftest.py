"""Fixtures of the crash suite: the store under test as a spec, its promise level, and a
kill harness in a scratch directory."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from warmtier.store import WarmTierStore
from warmtier.testing.crash.kills import KillHarness
from warmtier.testing.plugin import store_spec as _spec


@pytest.fixture(scope="session")
def store_spec(pytestconfig: pytest.Config) -> str:
    """``module:Class`` of the store under test (children load it from this)."""
    return _spec(pytestconfig)


@pytest.fixture(scope="session")
def reference_promises(store_class: type[Any]) -> bool:
    """Whether the store under test makes the reference store's stronger crash promises
    (no completed operation lost, the in-flight one all or nothing): the reference store
    and every subclass of it, the bug zoo included."""
    return issubclass(store_class, WarmTierStore)


@pytest.fixture
def harness(store_spec: str, crash_workdir: str, reference_promises: bool) -> Iterator[KillHarness]:
    with KillHarness(store_spec, crash_workdir, strict=reference_promises) as h:
        yield h


@pytest.fixture
def record(record_property: Callable[[str, object], None]) -> Callable[[str, float], None]:
    """``record(name, n)``: add to the crash totals printed at the end of the run."""

    def add(name: str, value: float) -> None:
        record_property(f"crash: {name}", value)

    return add
