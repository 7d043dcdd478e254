"""Process kills: a store SIGKILLed anywhere reopens to a state the contract promises
(reference store: every completed operation, the in-flight one whole or not at all; any
store: a prefix covering the last flush; a batch call counts as the loop of its records),
passes check() and keeps working."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from warmtier.testing.crash.kills import (
    KillHarness,
    RoundResult,
    batch_points,
    census,
    failure_summary,
    random_points,
    replay_command,
    systematic_points,
)
from warmtier.testing.crash.points import KillPoint
from warmtier.testing.crash.workload import Batch, batch_kinds, operations

#: The workload seed of the systematic sweeps (any seed reaches every failpoint).
SYSTEMATIC_SEEDS = (1, 2, 3)


def run_rounds(harness: KillHarness, rounds: list[tuple[int, KillPoint]],
               record: Callable[[str, float], None]) -> list[RoundResult]:
    started = time.perf_counter()
    kills_before = harness.kills
    results = [harness.round(seed, point) for seed, point in rounds]
    record("kill rounds", len(results))
    record("kills", harness.kills - kills_before)
    record("kill seconds", time.perf_counter() - started)
    return results


@pytest.fixture
def failpoint_census(store_class: type[Any], crash_workdir: str) -> tuple[dict[tuple[str, str], int], float]:
    if not getattr(store_class, "failpoint_names", ()):
        pytest.skip("the store declares no failpoints (failpoint_names is empty)")
    return census(store_class, SYSTEMATIC_SEEDS[0], workdir=crash_workdir)


def test_the_crash_workload_reaches_every_declared_failpoint(
        store_class: type[Any], failpoint_census: tuple[dict[tuple[str, str], int], float]) -> None:
    hits, _ = failpoint_census
    missing = sorted(set(store_class.failpoint_names) - {name for name, _ in hits})
    assert not missing, (
        f"the crash workload (seed {SYSTEMATIC_SEEDS[0]}) never reaches {missing}; "
        "the systematic kills cannot cover them: extend warmtier.testing.crash.workload")


@pytest.mark.promise("kill-recovery")
def test_a_kill_at_the_first_hit_of_every_failpoint_in_every_operation_kind_recovers(
        harness: KillHarness, failpoint_census: tuple[dict[tuple[str, str], int], float],
        record: Callable[[str, float], None]) -> None:
    hits, _ = failpoint_census
    points = systematic_points(hits, nth=False)
    results = run_rounds(harness, [(SYSTEMATIC_SEEDS[0], p) for p in points], record)
    assert all(r.reached for r in results), [str(r.point) for r in results if not r.reached]
    summary = failure_summary(results)
    if summary:
        pytest.fail(summary, pytrace=False)


@pytest.mark.promise("kill-recovery")
def test_a_kill_between_the_records_of_a_batch_recovers_the_completed_operations_and_a_prefix_of_it(
        harness: KillHarness, store_class: type[Any], crash_workdir: str,
        failpoint_census: tuple[dict[tuple[str, str], int], float],
        record: Callable[[str, float], None]) -> None:
    if not batch_kinds(store_class):
        pytest.skip("the store declares no batch call the crash workload draws (batch_calls)")
    points = batch_points(store_class, SYSTEMATIC_SEEDS[0], workdir=crash_workdir)
    if not points:
        pytest.skip("no failpoint of the store is hit three times within one batch")
    results = run_rounds(harness, [(SYSTEMATIC_SEEDS[0], p) for p in points], record)
    steps = list(operations(SYSTEMATIC_SEEDS[0], harness.ops, batch_kinds(store_class)))
    outside = [f"{r.where()} (replay: {replay_command(r.seed, r.point, harness.store_spec)})"
               for r in results if r.progress.in_flight is None
               or not isinstance(steps[r.progress.in_flight], Batch)]
    assert not outside, f"expected every kill inside a batch call; actual: {outside}"
    summary = failure_summary(results)
    if summary:
        pytest.fail(summary, pytrace=False)


@pytest.mark.slow
@pytest.mark.parametrize("seed", SYSTEMATIC_SEEDS)
@pytest.mark.promise("kill-recovery")
def test_a_kill_at_the_first_second_and_last_hit_of_every_failpoint_recovers(
        seed: int, harness: KillHarness, store_class: type[Any], crash_workdir: str,
        failpoint_census: tuple[dict[tuple[str, str], int], float],
        record: Callable[[str, float], None]) -> None:
    hits, _ = census(store_class, seed, workdir=crash_workdir)
    results = run_rounds(harness, [(seed, p) for p in systematic_points(hits)], record)
    summary = failure_summary(results)
    if summary:
        pytest.fail(summary, pytrace=False)


def _random_rounds(store_class: type[Any], crash_workdir: str, base_seed: int,
                   count: int) -> list[tuple[int, KillPoint]]:
    hits, duration = census(store_class, SYSTEMATIC_SEEDS[0], workdir=crash_workdir)
    rng = np.random.default_rng(base_seed)
    points = random_points(rng, count, total_hits=sum(hits.values()), duration=duration)
    return [(int(rng.integers(1 << 31)), p) for p in points]


@pytest.mark.persistent
@pytest.mark.promise("kill-recovery")
def test_kills_at_random_points_recover_a_promised_state(
        harness: KillHarness, store_class: type[Any], crash_workdir: str,
        record: Callable[[str, float], None]) -> None:
    rounds = _random_rounds(store_class, crash_workdir, 20261124, 30)
    results = run_rounds(harness, rounds, record)
    summary = failure_summary(results)
    if summary:
        pytest.fail(summary, pytrace=False)


@pytest.mark.persistent
@pytest.mark.slow
@pytest.mark.promise("kill-recovery")
def test_thousands_of_kills_at_random_points_recover_a_promised_state(
        harness: KillHarness, store_class: type[Any], crash_workdir: str, crash_rounds: int,
        announced_seed: int, record: Callable[[str, float], None]) -> None:
    base = announced_seed
    rounds = _random_rounds(store_class, crash_workdir, base, crash_rounds)
    results = run_rounds(harness, rounds, record)
    summary = failure_summary(results)
    if summary:
        pytest.fail(f"(random base seed {base}: --crash-seed={base} repeats the rounds)\n"
                    f"{summary}", pytrace=False)
