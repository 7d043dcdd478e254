"""The pytest plugin every suite shares: which store class is under test, and fixtures.

``--warmtier-store=package.module:Class`` (or ``WARMTIER_STORE``) selects the class;
tests marked ``reference_only`` are skipped, with a reason, for any other class, and
tests marked ``persistent`` (they kill processes or cut power under the store's files)
are skipped for a store that keeps its state in memory (see :func:`is_in_memory`).
"""

from __future__ import annotations

import contextlib
import importlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

REFERENCE_STORE = "warmtier.store:WarmTierStore"
STORE_ENV = "WARMTIER_STORE"


def load_store_class(spec: str) -> type[Any]:
    """Import ``package.module:Class``; raise a UsageError that says how to fix a bad spec."""
    module_name, sep, class_name = spec.partition(":")
    if not sep or not module_name or not class_name:
        raise pytest.UsageError(
            f"--warmtier-store={spec!r}: expected 'package.module:Class', "
            f"for example {REFERENCE_STORE!r}"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise pytest.UsageError(
            f"--warmtier-store={spec!r}: cannot import {module_name!r} ({exc}); "
            "is it installed or on PYTHONPATH?"
        ) from exc
    cls = getattr(module, class_name, None)
    if cls is None:
        raise pytest.UsageError(f"--warmtier-store={spec!r}: {module_name} has no {class_name!r}")
    for name in ("create", "open"):
        if not callable(getattr(cls, name, None)):
            raise pytest.UsageError(
                f"--warmtier-store={spec!r}: {class_name} lacks the classmethod {name}()"
            )
    return cls  # type: ignore[no-any-return]


def store_spec(config: pytest.Config) -> str:
    """The spec of the store under test: the option, else the environment, else ours."""
    value = config.getoption("warmtier_store", default=None)
    return str(value or os.environ.get(STORE_ENV) or REFERENCE_STORE)


def is_reference_spec(spec: str) -> bool:
    return spec == REFERENCE_STORE


def is_in_memory(store_class: type[Any]) -> bool:
    """Whether a store class keeps its state in memory only: its ``in_memory`` class
    attribute when it has one, else True for :class:`warmtier.model.ModelStore` and its
    subclasses (whose reopen is a process-wide registry, lost with the process)."""
    flag = getattr(store_class, "in_memory", None)
    if flag is not None:
        return bool(flag)
    from warmtier.model import ModelStore

    return issubclass(store_class, ModelStore)


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
    spec = store_spec(config)
    if is_reference_spec(spec):
        return
    skip = pytest.mark.skip(
        reason=f"inspects the reference store's internals; store under test is {spec}"
    )
    in_memory: bool | None = None
    for item in items:
        if "reference_only" in item.keywords:
            item.add_marker(skip)
        elif "persistent" in item.keywords:
            if in_memory is None:
                in_memory = is_in_memory(load_store_class(spec))
            if in_memory:
                item.add_marker(pytest.mark.skip(
                    reason=f"needs a store with files; {spec} keeps its state in memory "
                    "(its reopen is a registry in this process, which a kill loses)"
                ))


@pytest.fixture(scope="session")
def store_class(pytestconfig: pytest.Config) -> type[Any]:
    """The store class under test."""
    return load_store_class(store_spec(pytestconfig))


@pytest.fixture(scope="session")
def is_reference_store(pytestconfig: pytest.Config) -> bool:
    return is_reference_spec(store_spec(pytestconfig))


@pytest.fixture
def make_store(store_class: type[Any], tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """``make_store(dim=8, **options)`` creates a fresh store in a new directory; all are
    closed at teardown."""
    made: list[Any] = []
    counter = iter(range(1_000_000))

    def factory(dim: int = 8, **options: Any) -> Any:
        path = tmp_path / f"store-{next(counter)}"
        store = store_class.create(path, dim=dim, **options)
        made.append(store)
        return store

    yield factory
    for store in made:
        with contextlib.suppress(Exception):
            store.close()
