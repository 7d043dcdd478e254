"""The crash suite's pytest options and fixtures: rounds, replay, seed, a scratch directory.

``--crash-rounds N`` (alias ``--rounds``) sizes the long runs: N random kill rounds,
N // 50 power-loss workloads, 10 * N file mutations. ``--crash-replay SEED:POINT``
(alias ``--replay``) reruns one failure as printed, and deselects every other crash test.
``--crash-seed N`` fixes the seed of every random loop and of the fuzzing Hypothesis test
(default: ``--hypothesis-seed``, else drawn once per run); it is printed in the header and
the summary, so any run can be repeated. Inputs that killed an isolated store are kept in
``reports/crash-inputs/`` (``$WARMTIER_CRASH_INPUTS``).
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterator
from typing import Any

import pytest

from warmtier.testing.crash.isolate import KEEP_ENV
from warmtier.testing.crash.points import KillPoint, parse_replay
from warmtier.testing.subject import REFERENCE_STORE, STORE_ENV, scratch_dir

__all__ = ["DEFAULT_ROUNDS", "REPLAY_TEST", "replay_test_command"]

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
    group.addoption(
        "--crash-seed",
        dest="crash_seed",
        type=int,
        default=None,
        metavar="N",
        help="seed of the crash suite's random loops and fuzzing (default: "
        "--hypothesis-seed, else drawn and printed)",
    )


_SEED_KEY = "warmtier_crash_seed"


def _draw_seed(config: pytest.Config) -> int:
    """The run's seed: ``--crash-seed``, the controller's (under xdist), the Hypothesis
    seed, else a fresh one."""
    chosen = config.getoption("crash_seed", default=None)
    if chosen is not None:
        return int(chosen)
    workerinput = getattr(config, "workerinput", None)
    if workerinput and _SEED_KEY in workerinput:
        return int(workerinput[_SEED_KEY])
    hypothesis_seed = config.getoption("hypothesis_seed", default=None)
    if hypothesis_seed is not None:
        try:
            return int(hypothesis_seed) % (1 << 32)
        except ValueError:
            pass
    return int.from_bytes(os.urandom(4), "little")


def crash_seed_of(config: pytest.Config) -> int:
    """The seed of this run (the same in every xdist worker)."""
    seed: int = config.stash[_seed_stash]
    return seed


_seed_stash = pytest.StashKey[int]()


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist: every worker uses the controller's seed."""
    node.workerinput[_SEED_KEY] = crash_seed_of(node.config)


def pytest_report_header(config: pytest.Config) -> str:
    return (f"warmtier crash seed: {crash_seed_of(config)} "
            f"(repeat with --crash-seed={crash_seed_of(config)})")


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_seed_stash] = _draw_seed(config)
    os.environ.setdefault(KEEP_ENV, str(config.rootpath / "reports" / "crash-inputs"))
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


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The crash counters tests record (``record_property("crash: <name>", n)``) are
    printed in the run summary (:mod:`warmtier.testing.run_summary`); add the seed."""
    from warmtier.testing.run_summary import add_note, tally_of

    config = terminalreporter.config
    tally = tally_of(config)
    if tally is None or not any(k.startswith("crash: ") for k in tally.counts):
        return
    seed = crash_seed_of(config)
    add_note(config, f"crash seed   {seed}: repeat the random loops with --crash-seed={seed}")


@pytest.fixture(scope="session")
def crash_rounds(pytestconfig: pytest.Config) -> int:
    """``--crash-rounds``."""
    return int(pytestconfig.getoption("crash_rounds"))


@pytest.fixture(scope="session")
def crash_replay(pytestconfig: pytest.Config) -> tuple[int, KillPoint] | None:
    """``--crash-replay`` parsed, or None."""
    raw = pytestconfig.getoption("crash_replay", default=None)
    return parse_replay(str(raw)) if raw else None


@pytest.fixture(scope="session")
def crash_seed(pytestconfig: pytest.Config) -> int:
    """``--crash-seed``, or the run's seed (printed in the header and the summary)."""
    return crash_seed_of(pytestconfig)


def replay_test_command(nodeid: str, seed: int, store_spec: str) -> str:
    """The command that reruns one test with the same seed and store."""
    words = ["python", "-m", "pytest", nodeid, "-p", "no:cacheprovider", f"--crash-seed={seed}"]
    if store_spec != REFERENCE_STORE:
        words.append(f"--warmtier-store={store_spec}")
    return shlex.join(words)


@pytest.fixture
def crash_test_replay(request: pytest.FixtureRequest, crash_seed: int) -> str:
    """The replay command of the running test (for failure messages)."""
    spec = os.environ.get(STORE_ENV) or REFERENCE_STORE
    return replay_test_command(request.node.nodeid, crash_seed, spec)


@pytest.fixture
def crash_workdir() -> Iterator[str]:
    """A scratch directory for crash stores and images: on /dev/shm when there is one
    (kills and images need no real disk, and tmpfs makes them fast), else /tmp."""
    with scratch_dir("warmtier-crash-") as where:
        yield where
