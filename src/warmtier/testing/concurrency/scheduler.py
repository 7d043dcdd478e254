"""Controlled scheduling: run threads one at a time, a seeded strategy picks who goes next.

The store's failpoints (and explicit :meth:`Scheduler.point` calls between operations)
become scheduling points. A thread that reaches one pauses; the controller (the thread
that called :meth:`Scheduler.run`) waits until every thread is paused, finished or
blocked, then asks the :class:`Strategy` which paused thread runs next. The strategies
are uniform random and PCT (random priorities with ``depth - 1`` priority change
points). The same seed gives the same sequence of choices, hence the same interleaving.

A thread that blocks on a lock the store holds (another thread is paused inside the
critical section) or runs long without reaching a point cannot be paused; it is counted
as blocked, after a short bound, and another thread runs. On Linux "blocked" is judged
from the kernel: the thread sleeps (``/proc``) in a lock wait (``futex``; a thread asleep
in disk I/O, such as an engine's ``fdatasync``, still runs) and its CPU clock stands
still, for ``block_window`` and over several polls in a row, each of which releases the
GIL (a thread merely waiting for the GIL also sleeps in ``futex``). Replay is exact when
the store's locks wake their waiters in FIFO order, which CPython's locks do in practice
on Linux. A run never hangs: when every live thread stays blocked, or the
whole run exceeds its timeout, it fails with every thread's stack and the seed.

>>> def run(seed):
...     log = []
...     sched = Scheduler(RandomStrategy(seed))
...     def worker(name):
...         def body():
...             for i in range(3):
...                 log.append(f"{name}{i}")
...                 sched.point("between")
...         return body
...     sched.run([worker("a"), worker("b")])
...     return log
>>> run(7) == run(7)
True
>>> sorted(run(7))
['a0', 'a1', 'a2', 'b0', 'b1', 'b2']
"""

from __future__ import annotations

import os
import random
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from warmtier import failpoints
from warmtier.testing import exercised
from warmtier.testing.concurrency.races import dump_stacks, switch_interval

__all__ = [
    "PCTStrategy",
    "RandomStrategy",
    "ScheduleDeadlock",
    "ScheduleResult",
    "Scheduler",
    "Strategy",
    "make_strategy",
]


class Strategy(Protocol):
    """Chooses the next thread. ``runnable`` is sorted; ``last`` is the thread that just ran."""

    seed: int
    name: str

    def start(self, threads: int) -> None: ...

    def choose(self, runnable: Sequence[int], step: int, last: int | None) -> int: ...


class RandomStrategy:
    """Uniform random choice among the paused threads at every scheduling point."""

    name = "random"

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._rng = random.Random(seed)

    def start(self, threads: int) -> None:
        self._rng = random.Random(self.seed)

    def choose(self, runnable: Sequence[int], step: int, last: int | None) -> int:
        return runnable[self._rng.randrange(len(runnable))]


class PCTStrategy:
    """Probabilistic Concurrency Testing (Burckhardt et al., ASPLOS 2010).

    Threads get distinct random priorities ``depth .. depth + n - 1``; the highest
    priority runnable thread runs. At ``depth - 1`` random steps in ``[1, max_steps]``
    the thread that just ran drops to priority ``depth - 1 - i``. A bug of depth ``d``
    is found with probability at least ``1 / (n * k ** (d - 1))`` per run.
    """

    name = "pct"

    def __init__(self, seed: int, depth: int = 3, max_steps: int = 200) -> None:
        self.seed = seed
        self.depth = depth
        self.max_steps = max(2, max_steps)
        self._priority: dict[int, int] = {}
        self._changes: dict[int, int] = {}

    def start(self, threads: int) -> None:
        rng = random.Random(self.seed)
        order = list(range(threads))
        rng.shuffle(order)
        self._priority = {t: self.depth + rank for rank, t in enumerate(order)}
        points = rng.sample(range(1, self.max_steps + 1), min(self.depth - 1, self.max_steps))
        self._changes = {step: self.depth - 1 - i for i, step in enumerate(sorted(points))}

    def choose(self, runnable: Sequence[int], step: int, last: int | None) -> int:
        if step in self._changes and last is not None:
            self._priority[last] = self._changes[step]
        return max(runnable, key=lambda t: self._priority.get(t, 0))


def make_strategy(name: str, seed: int, **options: Any) -> Strategy:
    """``"random"`` or ``"pct"`` (options: ``depth``, ``max_steps``) with ``seed``."""
    exercised.count(f"schedules: {name}")
    if name == "random":
        return RandomStrategy(seed)
    if name == "pct":
        return PCTStrategy(seed, **options)
    raise ValueError(f"unknown scheduling strategy {name!r}; use 'random' or 'pct'")


class ScheduleDeadlock(AssertionError):
    """Every live thread stayed blocked, or the run overran its timeout."""


NEW, PAUSED, RUNNING, BLOCKED, DONE = "new", "paused", "running", "blocked", "done"


@dataclass(eq=False)
class _Worker:
    index: int
    task: Callable[[], Any]
    thread: threading.Thread | None = None
    state: str = NEW
    turn: bool = False
    where: str = "start"
    long_running: bool = False
    resumed_at: float = 0.0
    quiet_cpu: int = -1
    quiet_since: float = 0.0
    quiet_polls: int = 0  # controller polls in a row (each releasing the GIL) it stood still
    result: Any = None
    error: BaseException | None = None


@dataclass
class ScheduleResult:
    """A finished run: the choices made (step, thread, point), and each task's result."""

    seed: int
    strategy: str
    trace: list[tuple[int, int, str]]
    results: list[Any]
    blocked_events: int
    seconds: float

    def describe_trace(self, last: int = 40) -> str:
        shown = self.trace[-last:]
        lines = [f"  step {s:>5}: thread {t} at {where}" for s, t, where in shown]
        skipped = len(self.trace) - len(shown)
        head = [f"  ... {skipped} earlier steps"] if skipped else []
        return "\n".join(head + lines)


def _proc_state(native_id: int | None) -> str | None:
    """The kernel's one-letter state of a thread of this process (Linux), else None."""
    if native_id is None:
        return None
    try:
        with open(f"/proc/self/task/{native_id}/stat", "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    return data[data.rfind(b")") + 2 : data.rfind(b")") + 3].decode()


#: Polls in a row a sleeping thread's clock must stand still to count as blocked.
_QUIET_POLLS = 4

#: ``futex`` by machine: the one system call a thread waiting on a lock sleeps in.
_FUTEX = {"x86_64": 202, "aarch64": 98}.get(os.uname().machine)


def _sleeps_in_io(native_id: int | None) -> bool:
    """Whether a sleeping thread waits in a system call other than ``futex`` (a disk
    sync, a write, a timed sleep): it will go on by itself, so it is not blocked, however
    long its CPU clock stands still (Linux; False when the kernel does not say)."""
    if native_id is None or _FUTEX is None:
        return False
    try:
        with open(f"/proc/self/task/{native_id}/syscall", "rb") as fh:
            first = fh.read().split(maxsplit=1)[:1]
    except OSError:
        return False
    return bool(first) and first[0].isdigit() and int(first[0]) != _FUTEX


def _cpu_ns(ident: int | None) -> int | None:
    if ident is None or not hasattr(time, "pthread_getcpuclockid"):
        return None
    try:
        return time.clock_gettime_ns(time.pthread_getcpuclockid(ident))
    except (OSError, ValueError, OverflowError):
        return None


@dataclass
class Scheduler:
    """Run tasks on threads under one strategy; see the module docstring.

    ``block_window``: how long a sleeping thread's CPU clock must stand still (over at
    least ``_QUIET_POLLS`` polls) before it counts as blocked. ``long_bound``: how long a thread may run without reaching a
    point before it is left to run free. ``deadlock_after``: how long every live thread
    may stay blocked before the run fails. ``timeout``: bound on the whole run.
    ``replay`` is appended to failure messages (say, the pytest option that replays).
    """

    strategy: Strategy
    block_window: float = 0.002
    long_bound: float = 0.25
    deadlock_after: float = 3.0
    timeout: float = 60.0
    failpoint_pattern: str | None = "*"
    interval: float = 5e-5
    replay: str = ""
    _cond: threading.Condition = field(default_factory=threading.Condition, repr=False)
    _local: threading.local = field(default_factory=threading.local, repr=False)
    _workers: list[_Worker] = field(default_factory=list, repr=False)
    _aborted: bool = False
    _blocked_events: int = 0

    # -- called by managed threads ------------------------------------------------------

    def point(self, name: str = "point") -> None:
        """A scheduling point: pause here until the strategy picks this thread again.

        A no-op on threads the scheduler does not manage, and after an abort.
        """
        worker: _Worker | None = getattr(self._local, "worker", None)
        if worker is None or self._aborted:
            return
        with self._cond:
            worker.state = PAUSED
            worker.where = name
            worker.turn = False
            worker.long_running = False
            self._cond.notify_all()
            while not worker.turn and not self._aborted:
                self._cond.wait()
            worker.state = RUNNING

    def _body(self, worker: _Worker) -> None:
        self._local.worker = worker
        try:
            self.point("start")
            worker.result = worker.task()
        except BaseException as exc:
            worker.error = exc
        finally:
            self._local.worker = None
            with self._cond:
                worker.state = DONE
                self._cond.notify_all()

    # -- the controller -----------------------------------------------------------------

    def _quiet(self, worker: _Worker, now: float) -> bool:
        """Is a thread that has not reached a point blocked (or running too long)?"""
        thread = worker.thread
        assert thread is not None
        state = _proc_state(thread.native_id)
        cpu = _cpu_ns(thread.ident)
        if state is None or cpu is None:
            # No kernel view: fall back on a pure time bound.
            return now - worker.resumed_at > 5 * self.block_window
        if (state not in ("S", "D") or cpu != worker.quiet_cpu
                or _sleeps_in_io(thread.native_id)):
            if worker.state == BLOCKED:  # woke up: it runs again from now
                worker.state = RUNNING
                worker.resumed_at = now
            worker.quiet_cpu = cpu
            worker.quiet_since = now
            worker.quiet_polls = 0
            if now - worker.resumed_at > self.long_bound:
                worker.long_running = True
                return True
            return False
        # A thread waiting for the GIL also sleeps in futex with its clock still, for as
        # long as the controller holds the GIL (longer when the machine is busy and the
        # controller loses its core). Each poll releases the GIL before the next, so a
        # thread still asleep after several of them waits for something else: a lock.
        worker.quiet_polls += 1
        return (now - worker.quiet_since >= self.block_window
                and worker.quiet_polls >= _QUIET_POLLS)

    def _settle(self, deadline: float) -> None:
        """Wait until every thread is paused, done, or judged blocked."""
        with self._cond:
            while True:
                now = time.monotonic()
                if now > deadline:
                    raise self._fail(f"the run exceeded its timeout of {self.timeout:g} s")
                unsettled = False
                for w in self._workers:
                    if w.state in (PAUSED, DONE) or w.long_running:
                        continue
                    if self._quiet(w, now):
                        if w.state != BLOCKED:
                            self._blocked_events += 1
                        w.state = BLOCKED
                    else:
                        unsettled = True
                if not unsettled:
                    return
                self._cond.wait(self.block_window / 4)

    def _fail(self, why: str) -> ScheduleDeadlock:
        self._aborted = True
        with self._cond:
            self._cond.notify_all()
        states = ", ".join(f"thread {w.index}: {w.state} at {w.where}" for w in self._workers)
        threads = [w.thread for w in self._workers if w.thread is not None]
        message = (
            f"controlled schedule ({self.strategy.name}, seed {self.strategy.seed}) failed: "
            f"{why}. Expected every thread to finish; states: {states}. {self.replay}\n"
            f"Stacks of the scheduled threads:\n{dump_stacks(threads)}"
        )
        print(message, file=sys.stderr)
        return ScheduleDeadlock(message)

    def run(self, tasks: Sequence[Callable[[], Any]]) -> ScheduleResult:
        """Run each task on its own thread under the strategy; re-raise a task's error."""
        self._workers = [_Worker(i, task) for i, task in enumerate(tasks)]
        self._aborted = False
        self._blocked_events = 0
        self.strategy.start(len(tasks))
        trace: list[tuple[int, int, str]] = []
        start = time.monotonic()
        deadline = start + self.timeout
        arming = (
            failpoints.arm(self.failpoint_pattern, failpoints.Call(self.point))
            if self.failpoint_pattern
            else None
        )
        try:
            with switch_interval(self.interval):
                for w in self._workers:
                    w.resumed_at = time.monotonic()
                    w.thread = threading.Thread(
                        target=self._body, args=(w,), name=f"sched-{w.index}", daemon=True
                    )
                    w.thread.start()
                self._loop(trace, deadline)
        finally:
            if arming is not None:
                failpoints.disarm(arming)
        for w in self._workers:
            assert w.thread is not None
            w.thread.join(max(0.0, deadline - time.monotonic()))
        result = ScheduleResult(
            self.strategy.seed,
            self.strategy.name,
            trace,
            [w.result for w in self._workers],
            self._blocked_events,
            time.monotonic() - start,
        )
        errors = [w for w in self._workers if w.error is not None]
        if errors:
            first = errors[0].error
            assert first is not None
            first.add_note(
                f"raised by scheduled thread {errors[0].index} under the {self.strategy.name} "
                f"strategy, seed {self.strategy.seed}. {self.replay}".rstrip()
            )
            first.add_note("last scheduling steps:\n" + result.describe_trace(20))
            raise first
        return result

    def _loop(self, trace: list[tuple[int, int, str]], deadline: float) -> None:
        step = 0
        last: int | None = None
        while True:
            self._settle(deadline)
            with self._cond:
                runnable = [w.index for w in self._workers if w.state == PAUSED]
                live = [w for w in self._workers if w.state != DONE]
            if not live:
                return
            if not runnable:
                self._wait_for_progress(deadline)
                continue
            choice = self.strategy.choose(runnable, step, last)
            worker = self._workers[choice]
            trace.append((step, choice, worker.where))
            step += 1
            last = choice
            with self._cond:
                worker.turn = True
                worker.state = RUNNING
                worker.resumed_at = time.monotonic()
                worker.quiet_cpu = -1
                self._cond.notify_all()

    def _wait_for_progress(self, deadline: float) -> None:
        """Every live thread is blocked or running free: wait for one to pause or end."""
        limit = min(deadline, time.monotonic() + self.deadlock_after)
        with self._cond:
            while True:
                if any(w.state in (PAUSED, DONE) for w in self._workers):
                    return
                if all(w.long_running for w in self._workers if w.state != DONE):
                    # Threads running free but making progress: only the run timeout applies.
                    limit = deadline
                now = time.monotonic()
                if now >= limit:
                    why = (
                        f"every live thread stayed blocked for {self.deadlock_after:g} s "
                        "(a deadlock, or a lock left held)"
                        if limit < deadline
                        else f"the run exceeded its timeout of {self.timeout:g} s"
                    )
                    raise self._fail(why)
                self._cond.wait(min(0.01, limit - now))

