"""Pytest options and fixtures of the concurrency suite: seeds, timeouts, latency tables.

``--warmtier-schedule-seed=N`` replays one controlled schedule; ``--warmtier-schedule-runs``
sets how many seeds a scheduler test tries; ``--warmtier-race-seed=N`` fixes the drawn
race programs; ``--warmtier-race-timeout`` bounds each race.
Latency tables of the barrier scenarios are printed at the end of the run.
"""

from __future__ import annotations

import os
import random
import shlex
from collections.abc import Callable, Iterator

import pytest

from warmtier.perf.measure import Latencies

__all__ = ["ReplayHint", "latency_tables"]

SCHEDULE_BASE_ENV = "WARMTIER_SCHEDULE_SEED_BASE"

latency_tables: list[str] = []
"""Tables collected by the ``latencies`` fixture during this process, printed at the end."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("warmtier")
    group.addoption(
        "--warmtier-schedule-seed",
        dest="warmtier_schedule_seed",
        type=int,
        default=None,
        metavar="N",
        help="run controlled-scheduler tests with this one seed (replays a failure)",
    )
    group.addoption(
        "--warmtier-schedule-runs",
        dest="warmtier_schedule_runs",
        type=int,
        default=None,
        metavar="N",
        help="how many seeds each controlled-scheduler test tries (default: per test)",
    )
    group.addoption(
        "--warmtier-race-seed",
        dest="warmtier_race_seed",
        type=int,
        default=None,
        metavar="N",
        help="first seed of the programs the hot-id races draw (default: a fresh one per "
        "run, printed with any failure)",
    )
    group.addoption(
        "--warmtier-race-timeout",
        dest="warmtier_race_timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="bound on each race or schedule; on expiry it fails with every thread's stack",
    )


class ReplayHint:
    """Builds the command line that replays one test with one seed."""

    def __init__(self, nodeid: str, store: str) -> None:
        self.nodeid = nodeid
        self.store = store

    def command(self, seed: int | None = None) -> str:
        parts = ["pytest", self.nodeid, "-p", "no:xdist", f"--warmtier-store={self.store}"]
        if seed is not None:
            parts.append(f"--warmtier-schedule-seed={seed}")
        return "replay: " + shlex.join(parts)


@pytest.fixture
def replay(request: pytest.FixtureRequest) -> ReplayHint:
    """How to replay the running test (add a seed with ``replay.command(seed)``)."""
    from warmtier.testing.plugin import store_spec

    return ReplayHint(request.node.nodeid, store_spec(request.config))


@pytest.fixture
def schedule_seeds(request: pytest.FixtureRequest) -> Callable[[int], list[int]]:
    """``schedule_seeds(default_count)``: the seeds a scheduler test should try.

    One seed when ``--warmtier-schedule-seed`` is given, else ``--warmtier-schedule-runs``
    (or ``default_count``) seeds starting at 0 (at ``$WARMTIER_SCHEDULE_SEED_BASE`` in a
    campaign, so every night and shard tries new schedules).
    """

    def seeds(default_count: int) -> list[int]:
        one = request.config.getoption("warmtier_schedule_seed")
        if one is not None:
            return [int(one)]
        runs = int(request.config.getoption("warmtier_schedule_runs") or default_count)
        request.node.user_properties.append(("schedules", runs))  # the campaign counts them
        base = int(os.environ.get(SCHEDULE_BASE_ENV, "0"))  # a campaign's nightly seed
        return list(range(base, base + runs))

    return seeds


@pytest.fixture
def race_seed(request: pytest.FixtureRequest) -> int:
    """The first seed of the drawn race programs: ``--warmtier-race-seed``, else fresh."""
    given = request.config.getoption("warmtier_race_seed")
    return int(given) if given is not None else random.SystemRandom().randrange(2**31)


@pytest.fixture
def race_timeout(request: pytest.FixtureRequest) -> float:
    return float(request.config.getoption("warmtier_race_timeout"))


@pytest.fixture
def latencies() -> Iterator[Callable[[str], Latencies]]:
    """``latencies(scenario)`` gives a recorder whose table is printed after the run."""
    made: list[Latencies] = []

    def factory(scenario: str) -> Latencies:
        lat = Latencies(scenario)
        made.append(lat)
        return lat

    yield factory
    for lat in made:
        if len(lat):
            table = lat.table()
            print("\n" + table)
            latency_tables.append(table)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if latency_tables:
        terminalreporter.section("warmtier latency percentiles (printed, not asserted)")
        for table in latency_tables:
            terminalreporter.write_line(table)
