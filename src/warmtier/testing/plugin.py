"""The pytest plugin every suite shares: the store under test (one :class:`Subject`),
and what each test may demand of it.

``--warmtier-store=package.module:Class`` (or ``WARMTIER_STORE``) selects the class.
Tests marked ``reference_only`` are skipped, with a reason, for any other class; tests
marked ``own_stores`` (self-tests of the suite that pick their own stores) run once, in
the reference run; tests marked ``persistent`` (they kill processes or cut power under the store's files) are
skipped for a store that keeps its state in memory; a test marked ``promise(name)`` is a
strict expected failure for a store that declares ``name`` among its ``known_gaps``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from warmtier.testing.contract import close_quietly
from warmtier.testing.subject import (
    GAPS,
    REFERENCE_STORE,
    SIZING_HINTS,
    STORE_ENV,
    Subject,
    SubjectError,
)


def store_spec(config: pytest.Config) -> str:
    """The spec of the store under test: the option, else the environment, else ours."""
    value = config.getoption("warmtier_store", default=None)
    return str(value or os.environ.get(STORE_ENV) or REFERENCE_STORE)


def subject_of(config: pytest.Config) -> Subject:
    """The store under test, resolved once; a bad spec is a usage error saying why."""
    try:
        return Subject.resolve(store_spec(config))
    except SubjectError as exc:
        raise pytest.UsageError(f"--warmtier-store: {exc}") from exc


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("warmtier")
    group.addoption(
        "--warmtier-store",
        dest="warmtier_store",
        default=None,
        metavar="MODULE:CLASS",
        help=f"store class under test (default: ${STORE_ENV} or {REFERENCE_STORE})",
    )


def pytest_configure(config: pytest.Config) -> None:
    spec = store_spec(config)
    # Keep the choice visible to subprocesses (crash children, replay runs).
    os.environ[STORE_ENV] = spec


def pytest_report_header(config: pytest.Config) -> str:
    return f"warmtier store under test: {store_spec(config)}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    subject = subject_of(config)
    for item in items:
        if "reference_only" in item.keywords and not subject.is_reference:
            item.add_marker(pytest.mark.skip(
                reason="inspects the reference store's internals; store under test is "
                f"{subject.spec}"))
        elif "own_stores" in item.keywords and not subject.is_reference:
            item.add_marker(pytest.mark.skip(
                reason="tests the suite with stores of its own, whatever the store under "
                "test: runs once, in the reference run"))
        elif "persistent" in item.keywords and subject.in_memory:
            item.add_marker(pytest.mark.skip(
                reason=f"needs a store with files; {subject.spec} keeps its state in memory "
                "(its reopen is a registry in this process, which a kill loses)"))
        for mark in item.iter_markers("promise"):
            gap = mark.args[0]
            if gap not in GAPS:
                raise pytest.UsageError(f"{item.nodeid}: promise({gap!r}) is not one of "
                                        f"{sorted(GAPS)}")
            if gap in subject.known_gaps:
                item.add_marker(pytest.mark.xfail(
                    strict=True, reason=f"{subject.spec} declares the known gap {gap!r}: "
                    f"{subject.known_gaps[gap]}"))


@pytest.fixture(scope="session")
def subject(pytestconfig: pytest.Config) -> Subject:
    """The store under test: what it is, takes and declares."""
    return subject_of(pytestconfig)


@pytest.fixture(scope="session")
def store_class(subject: Subject) -> type[Any]:
    """The store class under test."""
    return subject.cls


@pytest.fixture(scope="session")
def is_reference_store(subject: Subject) -> bool:
    return subject.is_reference


@pytest.fixture
def make_store(subject: Subject, tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """``make_store(dim=8, **options)`` creates a fresh store in a new directory; all are
    closed at teardown. Sizing hints the store does not take are dropped; a test that
    needs another option the store does not take is skipped, naming it."""
    made: list[Any] = []
    counter = iter(range(1_000_000))

    def factory(dim: int = 8, **options: Any) -> Any:
        missing = sorted(set(options) - set(subject.create_options) - set(SIZING_HINTS))
        if missing:
            pytest.skip(f"{subject.spec}.create takes no {', '.join(missing)}")
        path = tmp_path / f"store-{next(counter)}"
        store = subject.create(path, dim, **options)
        made.append(store)
        return store

    yield factory
    for store in made:
        close_quietly(store)
