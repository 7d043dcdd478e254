"""Hypothesis settings profiles (``dev``, ``ci``, ``nightly``) and the pytest plugin that
picks one and offers ``--warmtier-replay``.

Selection, first match wins: ``--hypothesis-profile=NAME``; the environment variable
``WARMTIER_HYPOTHESIS_PROFILE``; our ``ci`` profile when ``CI`` is set (Hypothesis would
otherwise load its own derandomized ``ci``); else ``dev``. See docs/properties.md.

The example database is a directory (``.hypothesis/examples`` or
``WARMTIER_HYPOTHESIS_DB``); ``WARMTIER_HYPOTHESIS_SHARED_DB`` adds a team directory read
through :class:`hypothesis.database.ReadOnlyDatabase` next to it, and ``WARMTIER_SHARED_DB``
(or ``--shared-db``) a Redis server instead (:mod:`warmtier.campaign.shared_db`).
"""

from __future__ import annotations

import os
import random
import re
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, Phase, Verbosity, settings
from hypothesis.database import (
    DirectoryBasedExampleDatabase,
    ExampleDatabase,
    MultiplexedDatabase,
    ReadOnlyDatabase,
)

__all__ = [
    "DB_ENV",
    "PROFILES",
    "PROFILE_ENV",
    "SHARED_DB_ENV",
    "active_profile",
    "example_database",
    "machine_runner",
    "machine_test",
    "register_profiles",
    "scaled",
]

PROFILE_ENV = "WARMTIER_HYPOTHESIS_PROFILE"
DB_ENV = "WARMTIER_HYPOTHESIS_DB"
SHARED_DB_ENV = "WARMTIER_HYPOTHESIS_SHARED_DB"
REPLAY_OPTION = "warmtier_replay"
PROFILES = ("dev", "ci", "nightly")

_SUPPRESS = (
    HealthCheck.too_slow,
    HealthCheck.data_too_large,
    HealthCheck.filter_too_much,
    HealthCheck.large_base_example,
)

_FAST_PHASES = (Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink)

_active: str = "dev"
F = TypeVar("F", bound=Callable[..., Any])


def example_database() -> ExampleDatabase:
    """The local example database, multiplexed with a read-only team database when
    ``WARMTIER_HYPOTHESIS_SHARED_DB`` names one.

    Local failures are saved locally and replayed first next time; the shared directory
    (a synced folder, or a CI artifact unpacked in place) is only ever read.
    """
    local = DirectoryBasedExampleDatabase(os.environ.get(DB_ENV, ".hypothesis/examples"))
    team = os.environ.get("WARMTIER_SHARED_DB")  # a Redis server: docs/nightly.md
    if team:
        from warmtier.campaign.shared_db import team_database

        return team_database(local, team)
    shared = os.environ.get(SHARED_DB_ENV)
    if not shared:
        return local
    return MultiplexedDatabase(local, ReadOnlyDatabase(DirectoryBasedExampleDatabase(shared)))


def register_profiles() -> None:
    """Register ``dev``, ``ci`` and ``nightly`` (``ci`` replaces Hypothesis' own)."""
    common: dict[str, Any] = {
        "deadline": None,
        "print_blob": True,
        "report_multiple_bugs": False,
        "suppress_health_check": _SUPPRESS,
        "database": example_database(),
        "derandomize": False,
        # The explain phase re-runs a stateful counterexample hundreds of times under a
        # tracer: 90 % of the time to report a failure, for a comment on each line.
        "phases": _FAST_PHASES,
    }
    settings.register_profile("dev", max_examples=150, stateful_step_count=40, **common)
    settings.register_profile("ci", max_examples=100, stateful_step_count=30, **common)
    settings.register_profile(
        "nightly", max_examples=3000, stateful_step_count=200, **{**common, "phases": tuple(Phase)}
    )
    settings.register_profile("debug", parent=settings.get_profile("dev"),
                              verbosity=Verbosity.verbose)


def active_profile() -> str:
    """The name of the loaded profile."""
    return _active


def scaled(factor: float, **overrides: Any) -> settings:
    """The active profile with ``max_examples`` multiplied by ``factor`` (at least 1).

    Cheap machines (the allocator) run more examples than expensive ones, in proportion.
    """
    base = settings.default
    assert base is not None
    return settings(base, max_examples=max(1, int(base.max_examples * factor)), **overrides)


def _choose(config: pytest.Config) -> str:
    explicit = config.getoption("hypothesis_profile", default=None)
    if explicit:
        return str(explicit)
    from_env = os.environ.get(PROFILE_ENV)
    if from_env:
        return from_env
    return "ci" if os.environ.get("CI") else "dev"


register_profiles()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("warmtier")
    group.addoption(
        "--warmtier-replay",
        dest=REPLAY_OPTION,
        default=None,
        metavar="VERSION:BLOB",
        help="replay one counterexample of a machine test from its @reproduce_failure blob "
        "(the 'Replay:' line of a failure prints the whole command)",
    )


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    global _active
    name = _choose(config)
    settings.load_profile(name)
    _active = name


def pytest_report_header(config: pytest.Config) -> str:
    s = settings.default
    assert s is not None
    return (
        f"warmtier hypothesis profile: {_active} (max_examples={s.max_examples}, "
        f"stateful_step_count={s.stateful_step_count}, database={s.database!r})"
    )


@pytest.fixture
def machine_runner(request: pytest.FixtureRequest) -> Callable[..., None]:
    """``machine_runner(MachineClass, settings=None)`` runs a state machine as this test:
    seeded (``--hypothesis-seed`` or a fresh random seed), replaying ``--warmtier-replay``
    when given, and adding the ``Replay: nox -s properties -- ...`` line to any failure."""
    from hypothesis import core

    from warmtier.testing.compare import ReplayContext
    from warmtier.testing.exercised import note_machine
    from warmtier.testing.machines import run_machine
    from warmtier.testing.plugin import is_reference_spec, store_spec

    config = request.config
    spec = store_spec(config)
    forced = core.global_force_seed
    seed = int(forced) if forced is not None else random.SystemRandom().getrandbits(32)
    context = ReplayContext(
        nodeid=request.node.nodeid,
        seed=seed,
        profile=_active,
        store_spec=None if is_reference_spec(spec) else spec,
    )
    reproduce = _replay_arg(config)

    def run(machine: type[Any], settings: settings | None = None) -> None:
        __tracebackhide__ = True
        note_machine(machine)  # the run summary lists the rules it never fired
        run_machine(machine, replay=context, reproduce=reproduce, settings=settings)

    return run


def machine_test(function: F) -> F:
    """Mark a pytest test that runs a machine through :func:`machine_runner` as a
    Hypothesis test, so ``--hypothesis-show-statistics`` reports its rules and events.

    (The Hypothesis pytest plugin collects statistics only for tests it recognizes; the
    function-scoped fixtures such a test takes are used once per test, not per example.)
    """
    function.is_hypothesis_test = True  # type: ignore[attr-defined]
    function._hypothesis_internal_use_settings = settings(  # type: ignore[attr-defined]
        suppress_health_check=[HealthCheck.function_scoped_fixture,
                               HealthCheck.differing_executors]
    )
    return function


_BLOB = re.compile(r"@reproduce_failure\('([^']+)', b'([^']+)'\)")


def _replay_arg(config: pytest.Config) -> tuple[str, str] | None:
    raw = config.getoption(REPLAY_OPTION, default=None)
    if not raw:
        return None
    version, sep, blob = str(raw).partition(":")
    if not sep or not blob:
        raise pytest.UsageError(
            f"--warmtier-replay={raw!r}: expected VERSION:BLOB, as printed on a 'Replay:' line"
        )
    return version, blob


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> None:
    """With ``--warmtier-replay``, make a plain ``@given`` test run that one example."""
    reproduce = _replay_arg(item.config)
    obj = getattr(item, "obj", None)
    if reproduce and obj is not None and hasattr(obj, "hypothesis"):
        obj._hypothesis_internal_use_reproduce_failure = reproduce


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Add the one-line replay command to a failing ``@given`` test's report (machine
    tests carry it in their exception already)."""
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    text = report.longreprtext
    found = _BLOB.findall(text)
    if not found or "Replay: nox" in text:
        return
    from warmtier.testing.compare import ReplayContext
    from warmtier.testing.plugin import is_reference_spec, store_spec

    spec = store_spec(item.config)
    context = ReplayContext(item.nodeid, profile=_active,
                            store_spec=None if is_reference_spec(spec) else spec)
    report.sections.append(("warmtier replay", f"Replay: {context.blob_command(*found[-1])}"))
