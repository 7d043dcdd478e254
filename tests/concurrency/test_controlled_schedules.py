"""The race probe under the controlled scheduler: every seeded interleaving is correct.

The store's failpoints and the gaps between operations are the scheduling points; a
seeded strategy (uniform random, or PCT with depth 3) picks who runs at each. A failure
names its seed; ``--warmtier-schedule-seed=N`` replays exactly that interleaving.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from warmtier.model import ModelStore
from warmtier.testing.concurrency.program import DIM, RaceProgram
from warmtier.testing.concurrency.pytest_plugin import ReplayHint
from warmtier.testing.concurrency.scheduler import Scheduler, make_strategy

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


class SlowIOModel(ModelStore):
    """A model whose puts sleep in the kernel a while, as an engine's ``fdatasync`` does."""

    def put(self, *args: Any, **kwargs: Any) -> None:
        time.sleep(0.005)
        super().put(*args, **kwargs)


@pytest.mark.own_stores
def test_a_thread_asleep_in_disk_io_is_not_taken_for_blocked_so_replay_stays_exact(
    tmp_path: Path,
) -> None:
    """Found on the SQLite adapter: a put asleep in fdatasync longer than the block
    window was judged blocked, another thread ran, and one seed gave two interleavings."""
    for seed in range(3):
        traces = []
        for run in range(2):
            store = SlowIOModel.create(tmp_path / f"s{seed}-{run}", dim=DIM)
            sched = Scheduler(make_strategy("random", seed), timeout=60)
            program = RaceProgram(store, point=sched.point)
            result = sched.run(program.tasks())
            store.close()
            assert result.blocked_events == 0, (
                f"seed {seed}: threads asleep in I/O were judged blocked "
                f"{result.blocked_events} time(s)\n  expected: 0 (they go on by themselves)")
            traces.append(result.trace)
        assert traces[0] == traces[1], f"seed {seed} gave two different interleavings"
