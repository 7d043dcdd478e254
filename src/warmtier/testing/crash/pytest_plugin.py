"""The crash suite's pytest options and fixtures: rounds, replay, a scratch directory.

``--crash-rounds N`` (alias ``--rounds``) sizes the long runs: N random kill rounds,
N // 50 power-loss workloads, 10 * N file mutations. ``--crash-replay SEED:POINT``
(alias ``--replay``) reruns one failure as printed, and deselects every other crash test.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator

import pytest

from warmtier.testing.crash.points import KillPoint, parse_replay

__all__ = ["DEFAULT_ROUNDS", "REPLAY_TEST"]

#: Random kill rounds of ``nox -s crash`` when ``--crash-rounds`` is not given.
DEFAULT_ROUNDS = 300
#: The test that carries out ``--crash-replay``.
REPLAY_TEST = "test_replay_reproduces_the_printed_failure"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("warmtier-crash", "warmtier crash suite")
    group.addoption(
        "--crash-rounds", "--rounds",
        dest="crash_rounds",
        type=int,
        default=DEFAULT_ROUNDS,
        metavar="N",
        help="random kill rounds of the long crash runs; power-loss workloads and file "
        f"mutations scale with it (default {DEFAULT_ROUNDS}; nightly 10000)",
    )
    group.addoption(
        "--crash-replay", "--replay",
        dest="crash_replay",
        default=None,
        metavar="SEED:POINT",
        help="rerun one crash failure, as printed on its 'replay:' line",
    )


def pytest_configure(config: pytest.Config) -> None:
    raw = config.getoption("crash_replay", default=None)
    if raw:
        try:
            parse_replay(str(raw))
        except ValueError as exc:
            raise pytest.UsageError(f"--crash-replay: {exc}") from None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With a replay, keep only the replay test; without one, drop it."""
    replay = config.getoption("crash_replay", default=None)
    keep, drop = [], []
    for item in items:
        is_replay = item.name == REPLAY_TEST
        in_crash = "crash" in item.nodeid.split("::")[0].split("/")
        if (is_replay and not replay) or (replay and in_crash and not is_replay):
            drop.append(item)
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


_COUNTED = ("kill rounds", "kills", "kill seconds", "power-loss crash points",
            "power-loss images", "distinct images opened", "injected faults",
            "file mutations")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Sum the counters tests record with ``record_property("crash: <name>", n)`` (they
    travel from xdist workers to the controller with the report)."""
    if report.when != "call":
        return
    for key, value in report.user_properties:
        if isinstance(key, str) and key.startswith("crash: "):
            _totals[key[7:]] = _totals.get(key[7:], 0.0) + float(str(value))


_totals: dict[str, float] = {}


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _totals:
        return
    t = _totals
    parts = [f"{name} {t[name]:.0f}" for name in _COUNTED if name in t and name != "kill seconds"]
    if t.get("kill seconds"):
        parts.append(f"{t.get('kills', 0) / t['kill seconds']:.1f} kills/s")
    terminalreporter.write_sep("-", "warmtier crash totals")
    terminalreporter.write_line(", ".join(parts))


@pytest.fixture(scope="session")
def crash_rounds(pytestconfig: pytest.Config) -> int:
    """``--crash-rounds``."""
    return int(pytestconfig.getoption("crash_rounds"))


@pytest.fixture(scope="session")
def crash_replay(pytestconfig: pytest.Config) -> tuple[int, KillPoint] | None:
    """``--crash-replay`` parsed, or None."""
    raw = pytestconfig.getoption("crash_replay", default=None)
    return parse_replay(str(raw)) if raw else None


@pytest.fixture
def crash_workdir() -> Iterator[str]:
    """A scratch directory for crash stores and images: on /dev/shm when there is one
    (kills and images need no real disk, and tmpfs makes them fast), else /tmp."""
    base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    where = tempfile.mkdtemp(prefix="warmtier-crash-", dir=base)
    yield where
    shutil.rmtree(where, ignore_errors=True)
