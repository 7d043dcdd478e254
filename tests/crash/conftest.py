"""Fixtures of the crash suite: the store under test as a spec, its promise level, and a
kill harness in a scratch directory."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from warmtier.testing.crash.kills import KillHarness
from warmtier.testing.plugin import store_spec as _spec
from warmtier.testing.subject import Subject


@pytest.fixture(scope="session")
def store_spec(pytestconfig: pytest.Config) -> str:
    """``module:Class`` of the store under test (children load it from this)."""
    return _spec(pytestconfig)


@pytest.fixture(scope="session")
def reference_promises(subject: Subject) -> bool:
    """Whether the store under test declares the stronger crash promise (no completed
    operation lost, the in-flight one all or nothing): the reference store, its
    subclasses (the bug zoo), and any store whose class declares it."""
    return subject.no_loss


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


@pytest.fixture
def announced_seed(crash_seed: int, record_property: Callable[[str, object], None]) -> int:
    """The run's crash seed, printed before the test runs (shown with ``-s`` and beside a
    failure) and kept with its report (``--junitxml``): repeat with ``--crash-seed``."""
    print(f"crash seed {crash_seed} (repeat with --crash-seed={crash_seed})")
    record_property("crash seed", crash_seed)
    return crash_seed
