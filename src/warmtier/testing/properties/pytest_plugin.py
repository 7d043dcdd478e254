"""The property suite's pytest plugin: picks the Hypothesis profile of the run, offers
``--warmtier-replay``, and runs state machines as tests (``machine_runner``).

Profile selection, first match wins: ``--hypothesis-profile=NAME``; the environment
variable ``WARMTIER_HYPOTHESIS_PROFILE``; our ``ci`` profile when ``CI`` is set (Hypothesis
would otherwise load its own derandomized ``ci``); else ``dev``. The profiles themselves
are in :mod:`warmtier.testing.properties.profiles`. See docs/properties.md.
"""

from __future__ import annotations

import os
import random
import re
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, settings

from warmtier.testing.properties import profiles

__all__ = ["machine_runner", "machine_test"]

REPLAY_OPTION = "warmtier_replay"
F = TypeVar("F", bound=Callable[..., Any])


def _choose(config: pytest.Config) -> str:
    explicit = config.getoption("hypothesis_profile", default=None)
    if explicit:
        return str(explicit)
    from_env = os.environ.get(profiles.PROFILE_ENV)
    if from_env:
        return from_env
    return "ci" if os.environ.get("CI") else "dev"



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
    profiles.load_profile(_choose(config))


def pytest_report_header(config: pytest.Config) -> str:
    s = settings.default
    assert s is not None
    return (
        f"warmtier hypothesis profile: {profiles.active_profile()} (max_examples={s.max_examples}, "
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
    from warmtier.testing.plugin import subject_of
    from warmtier.testing.properties.machines import run_machine

    config = request.config
    subject = subject_of(config)
    forced = core.global_force_seed
    seed = int(forced) if forced is not None else random.SystemRandom().getrandbits(32)
    context = ReplayContext(
        nodeid=request.node.nodeid,
        seed=seed,
        profile=profiles.active_profile(),
        store_spec=None if subject.is_reference else subject.spec,
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
    from warmtier.testing.plugin import subject_of

    subject = subject_of(item.config)
    context = ReplayContext(item.nodeid, profile=profiles.active_profile(),
                            store_spec=None if subject.is_reference else subject.spec)
    report.sections.append(("warmtier replay", f"Replay: {context.blob_command(*found[-1])}"))
