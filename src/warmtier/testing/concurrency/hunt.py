"""Hunt a race with one technique: barrier runs, controlled schedules, or panic injection.

Each hunter makes a fresh store per run, runs :class:`~warmtier.testing.concurrency.program.RaceProgram`
(or the panic workload) and stops at the first run whose verdict is wrong, reporting
how many runs it took and what went wrong. Used to show which technique catches which
planted bug, and how fast.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from warmtier.testing import exercised
from warmtier.testing.concurrency.panics import Unreached, inject_once
from warmtier.testing.concurrency.program import RaceProgram, hot_round, hot_scripts
from warmtier.testing.concurrency.races import run_race, run_workload
from warmtier.testing.concurrency.scheduler import Scheduler, make_strategy
from warmtier.testing.contract import close_quietly

__all__ = ["HOT_ROUNDS", "HOT_SEEDS", "Catch", "hunt_barrier", "hunt_hot", "hunt_panic",
           "hunt_schedule"]

#: The quick budget of hot-id races: free rounds, then scheduled seeds (the CI gate's).
HOT_ROUNDS = 200
HOT_SEEDS = 6

StoreFactory = Callable[[], Any]


@dataclass
class Catch:
    """A run that exposed a bug: which technique, after how many runs, with which seed."""

    technique: str
    runs: int
    seed: int | None
    detail: str

    def summary(self) -> str:
        seed = "" if self.seed is None else f" (seed {self.seed})"
        return f"{self.technique}: caught after {self.runs} run(s){seed}"


def _first_line(text: str, limit: int = 300) -> str:
    line = text.strip().splitlines()[0] if text.strip() else text
    return line[:limit]


def hunt_barrier(make: StoreFactory, tries: int, timeout: float = 10.0) -> Catch | None:
    """Run the race probe released by a barrier, up to ``tries`` times."""
    for run in range(1, tries + 1):
        store = make()
        try:
            program = RaceProgram(store)
            try:
                run_workload(program.roles(), timeout=timeout)
                problem = program.verdict()
            except Exception as exc:  # a crash of a worker, a deadlock
                problem = f"{type(exc).__name__}: {exc}"
            if problem:
                return Catch("barrier", run, None, _first_line(problem))
        finally:
            close_quietly(store, wait=2.0)
    return None


def hunt_schedule(
    make: StoreFactory,
    strategy: str,
    seeds: Iterable[int],
    timeout: float = 20.0,
    **options: Any,
) -> Catch | None:
    """Run the race probe under the controlled scheduler, one run per seed."""
    for run, seed in enumerate(seeds, start=1):
        store = make()
        try:
            sched = Scheduler(
                make_strategy(strategy, seed, **options), timeout=timeout, deadlock_after=1.0
            )
            program = RaceProgram(store, point=sched.point)
            try:
                sched.run(program.tasks())
                problem = program.verdict()
            except Exception as exc:
                problem = f"{type(exc).__name__}: {exc}"
            if problem:
                return Catch(f"scheduler/{strategy}", run, seed, _first_line(problem))
        finally:
            close_quietly(store, wait=2.0)
    return None


def hunt_panic(make: StoreFactory, names: Iterable[str]) -> Catch | None:
    """Inject a panic at each failpoint in turn (a fresh store for each)."""
    for run, name in enumerate(names, start=1):
        store = make()
        try:
            inject_once(store, name, wait=3.0)
        except Unreached:
            continue
        except Exception as exc:
            return Catch("panic injection", run, None, f"at {name}: {_first_line(str(exc))}")
        finally:
            close_quietly(store, wait=2.0)
    return None


def hunt_hot(
    make: StoreFactory,
    seed: int,
    rounds: int = HOT_ROUNDS,
    schedules: int = HOT_SEEDS,
    timeout: float = 20.0,
) -> Catch | None:
    """Hot-id races (:func:`~warmtier.testing.concurrency.program.hot_scripts`) on one store: first
    ``rounds`` programs (seeds ``seed``, ``seed + 1``, ...) running free from a barrier
    (the only way to reach a race inside one call of a store without failpoints), then
    ``schedules`` of them under the random scheduler (exact, replayable interleavings of
    whole calls and of failpoints)."""
    store = make()
    try:
        for run in range(1, rounds + schedules + 1):
            program_seed = seed + run - 1
            exercised.count("hot-id rounds")
            scripts = hot_scripts(program_seed)
            if run <= rounds:
                technique = "hot ids, free"
                problem = _hot(store, scripts, lambda t: run_race(t, timeout=timeout))
            else:
                technique = "hot ids, scheduled"
                sched = Scheduler(make_strategy("random", program_seed), timeout=timeout,
                                  deadlock_after=1.0)
                problem = _hot(store, scripts, sched.run, sched.point)
            if problem:
                return Catch(technique, run, program_seed, problem)
    finally:
        close_quietly(store, wait=2.0)
    return None


def _hot(store: Any, scripts: Any, run: Callable[..., Any],
         point: Callable[[str], None] | None = None) -> str | None:
    try:
        return hot_round(store, scripts, run, point)
    except Exception as exc:  # a crash of a worker, a deadlock
        return f"{type(exc).__name__}: {exc}"
