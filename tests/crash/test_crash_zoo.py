"""The crash suite catches every crash bug planted in the zoo (``tests/zoo``, members whose
``CAUGHT_BY`` names "crash"), each within a small, fixed budget of rounds, and the four
crash-ordering bugs of issue 8 through the detector that is meant to see them."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from tests.zoo.registry import members
from warmtier.testing.crash.faults import inject_exception
from warmtier.testing.crash.isolate import Isolated
from warmtier.testing.crash.kills import KillHarness, census, random_points, systematic_points
from warmtier.testing.crash.powerloss import PowerLossRun
from warmtier.testing.subject import load_store_class

pytestmark = [pytest.mark.reference_only, pytest.mark.slow]

CRASH_MEMBERS = [m for m in members() if "crash" in m.caught_by]

#: The issue's four crash-ordering bugs (members planted with this suite) and the
#: detector each must be caught by.
EXPECTED = {
    "crash_content_copied_after_put_returns": "kills",  # publish before content is written
    "crash_retire_old_version_before_durable": "power loss",  # retire before durable
    "crash_replaced_extent_reused_before_flush": "power loss",  # reuse before the flush
    "crash_next_seq_from_header": "kills",  # header counters trusted over slots
}

KILL_BUDGET = 60  # random kill rounds
POWER_BUDGET = 4  # power-loss workloads of 40 operations


def _kills(spec: str, workdir: str) -> str | None:
    cls = load_store_class(spec)
    hits, duration = census(cls, 1, workdir=workdir)
    rng = np.random.default_rng(8)
    with KillHarness(spec, workdir, strict=True) as harness:
        points = random_points(rng, KILL_BUDGET, total_hits=sum(hits.values()),
                               duration=duration)
        for n, point in enumerate(points, 1):
            result = harness.round(int(rng.integers(1 << 31)), point)
            if result.problems:
                return f"random kill round {n} of {KILL_BUDGET}: {result.problems[0][:120]}"
    return None


def _power_loss(spec: str, workdir: str) -> str | None:
    cls = load_store_class(spec)
    points = 0
    for seed in range(1, POWER_BUDGET + 1):
        result = PowerLossRun(cls, spec, workdir, seed, ops=40, max_failures=1).run()
        points += result.crash_points
        if result.failures:
            return (f"power-loss workload {seed} of {POWER_BUDGET}, after {points} crash "
                    f"points: {result.failures[0].splitlines()[1].strip()[:120]}")
    return None


def _faults(spec: str, workdir: str) -> str | None:
    cls = load_store_class(spec)
    hits, _ = census(cls, 1, workdir=workdir)
    with Isolated() as worker:
        for n, point in enumerate(systematic_points(hits, nth=False), 1):
            outcome = inject_exception(cls, 1, point, worker=worker)
            if outcome.problems:
                return f"injected fault {n} ({point}): {outcome.problems[0][:120]}"
    return None


DETECTORS: dict[str, Callable[[str, str], str | None]] = {
    "kills": _kills, "power loss": _power_loss, "faults": _faults,
}


@pytest.mark.parametrize("member", CRASH_MEMBERS, ids=[m.name for m in CRASH_MEMBERS])
def test_the_crash_suite_catches_the_planted_bug(member: Any, crash_workdir: str,
                                                 record_property: Any) -> None:
    expected = EXPECTED.get(member.name)
    order = [expected] if expected else list(DETECTORS)
    started = time.perf_counter()
    for name in order:
        found = DETECTORS[name](member.spec, crash_workdir)
        if found:
            record_property("caught by", f"{name}: {found}")
            print(f"{member.name}: caught by {name} in {time.perf_counter() - started:.1f}s"
                  f" -- {found}")
            return
    pytest.fail(f"zoo member {member.name} ({member.description}) escaped the "
                f"{' and '.join(order)} detector(s) of the crash suite", pytrace=False)


def test_the_four_crash_ordering_bugs_of_issue_8_are_planted() -> None:
    planted = {m.name for m in CRASH_MEMBERS}
    assert set(EXPECTED) <= planted, f"missing from the zoo: {sorted(set(EXPECTED) - planted)}"
