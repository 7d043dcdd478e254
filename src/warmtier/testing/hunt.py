"""Hunt a race with one technique: barrier runs, controlled schedules, or panic injection.

Each hunter makes a fresh store per run, runs :class:`~warmtier.testing.program.RaceProgram`
(or the panic workload) and stops at the first run whose verdict is wrong, reporting
how many runs it took and what went wrong. Used to show which technique catches which
planted bug, and how fast.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from warmtier.testing.contract import close_quietly
from warmtier.testing.panics import Unreached, inject_once
from warmtier.testing.program import RaceProgram
from warmtier.testing.races import run_race
from warmtier.testing.scheduler import Scheduler, make_strategy

__all__ = ["Catch", "hunt_barrier", "hunt_panic", "hunt_schedule"]

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
                run_race(program.tasks(), timeout=timeout)
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
