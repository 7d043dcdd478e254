"""The race probe under the controlled scheduler: every seeded interleaving is correct.

The store's failpoints and the gaps between operations are the scheduling points; a
seeded strategy (uniform random, or PCT with depth 3) picks who runs at each. A failure
names its seed; ``--warmtier-schedule-seed=N`` replays exactly that interleaving.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from warmtier.testing.concurrency_plugin import ReplayHint
from warmtier.testing.program import DIM, RaceProgram
from warmtier.testing.scheduler import Scheduler, make_strategy

STRATEGIES = {"random": {}, "pct": {"depth": 3, "max_steps": 80}}


def run_seeds(
    make_store: Callable[..., Any],
    strategy: str,
    seeds: list[int],
    replay: ReplayHint,
    timeout: float,
) -> int:
    """Run the probe once per seed; fail on the first wrong run. Returns scheduling steps."""
    steps = 0
    for seed in seeds:
        store = make_store(dim=DIM)
        sched = Scheduler(
            make_strategy(strategy, seed, **STRATEGIES[strategy]),
            timeout=timeout,
            replay=replay.command(seed),
        )
        program = RaceProgram(store, point=sched.point)
        result = sched.run(program.tasks())
        steps += len(result.trace)
        problem = program.verdict()
        assert problem is None, (
            f"{strategy} schedule, seed {seed}: expected a linearizable run of whole records; "
            f"got:\n{problem}\nlast scheduling steps:\n{result.describe_trace(30)}\n"
            f"{replay.command(seed)}"
        )
        store.close()
    return steps


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
@pytest.mark.promise("linearizable")
def test_race_probe_is_correct_under_seeded_schedules(
    make_store: Callable[..., Any],
    schedule_seeds: Callable[[int], list[int]],
    replay: ReplayHint,
    race_timeout: float,
    strategy: str,
) -> None:
    seeds = schedule_seeds(6)
    steps = run_seeds(make_store, strategy, seeds, replay, race_timeout)
    assert steps >= 18 * len(seeds), "the scheduler made fewer choices than there are operations"


@pytest.mark.slow
@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
@pytest.mark.promise("linearizable")
def test_race_probe_is_correct_under_two_hundred_schedules(
    make_store: Callable[..., Any],
    schedule_seeds: Callable[[int], list[int]],
    replay: ReplayHint,
    race_timeout: float,
    strategy: str,
) -> None:
    run_seeds(make_store, strategy, schedule_seeds(200), replay, race_timeout)


def test_same_seed_replays_the_same_interleaving_of_the_store(
    make_store: Callable[..., Any], race_timeout: float
) -> None:
    traces = []
    for _ in range(2):
        store = make_store(dim=DIM)
        sched = Scheduler(make_strategy("random", 1234), timeout=race_timeout)
        program = RaceProgram(store, point=sched.point)
        traces.append(sched.run(program.tasks()).trace)
        assert program.verdict() is None
    assert traces[0] == traces[1], "one seed gave two different interleavings"
