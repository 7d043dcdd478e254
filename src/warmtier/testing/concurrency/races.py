"""Barrier-synchronized races: release threads together, bound them in time, time their ops.

:func:`run_race` starts one thread per worker, holds them at a ``threading.Barrier``,
shortens the interpreter's switch interval so they interleave finely, and waits with a
deadline. A worker that does not finish in time fails the race with every thread's
stack (a deadlock is a failure, not a hang); a worker's exception is re-raised.
:func:`run_workload` runs a race described declaratively, as :class:`Role` s (so many
threads doing this step, so many times or until the others finish);
:class:`~warmtier.perf.measure.Latencies` (re-exported here) records per-operation times.

>>> hits = []
>>> run_race([lambda: hits.append(1)] * 3, timeout=5).workers
3
>>> len(hits)
3
"""

from __future__ import annotations

import contextlib
import random
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from warmtier.perf.measure import Latencies

__all__ = [
    "DEFAULT_SWITCH_INTERVAL",
    "Latencies",
    "RaceResult",
    "RaceTimeout",
    "Role",
    "dump_stacks",
    "run_race",
    "run_workload",
    "switch_interval",
    "tasks",
]

S = TypeVar("S")

DEFAULT_SWITCH_INTERVAL = 1e-5
"""Seconds between forced GIL hand-offs during a race (CPython's default is 5e-3)."""

class RaceTimeout(AssertionError):
    """A race did not finish in time: a deadlock, a lost wake-up, or a livelock."""


def dump_stacks(only: Sequence[threading.Thread] | None = None) -> str:
    """Every live thread's name and Python stack, as text."""
    frames = sys._current_frames()
    threads = list(only) if only is not None else threading.enumerate()
    chunks = []
    for thread in threads:
        frame = frames.get(thread.ident or -1)
        header = f"--- thread {thread.name!r} (ident {thread.ident}, alive={thread.is_alive()})"
        if frame is None:
            chunks.append(header + ": no Python frame")
            continue
        chunks.append(header + "\n" + "".join(traceback.format_stack(frame)).rstrip())
    return "\n".join(chunks)


@contextlib.contextmanager
def switch_interval(seconds: float) -> Iterator[None]:
    """Set ``sys.setswitchinterval`` for a block, restoring the old value after."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(seconds)
    try:
        yield
    finally:
        sys.setswitchinterval(old)


@dataclass
class RaceResult:
    """What a race did: worker count, wall time, and each worker's return value."""

    workers: int
    seconds: float
    results: list[Any]


def run_race(
    workers: Sequence[Callable[[], Any]],
    *,
    timeout: float = 60.0,
    interval: float = DEFAULT_SWITCH_INTERVAL,
    replay: str = "",
) -> RaceResult:
    """Run every worker on its own thread, all released together by a barrier.

    Raises :class:`RaceTimeout` with every thread's stack if some worker is still
    running after ``timeout`` seconds (the stuck threads are daemons, so they cannot
    hang the interpreter at exit). If workers raise, the first exception is re-raised
    with the others attached as notes. ``replay`` is added to every failure message.
    """
    n = len(workers)
    barrier = threading.Barrier(n + 1)
    results: list[Any] = [None] * n
    errors: list[tuple[int, BaseException]] = []

    def body(index: int, work: Callable[[], Any]) -> None:
        try:
            barrier.wait(timeout)
            results[index] = work()
        except BaseException as exc:
            errors.append((index, exc))

    threads = [
        threading.Thread(target=body, args=(i, w), name=f"race-{i}", daemon=True)
        for i, w in enumerate(workers)
    ]
    with switch_interval(interval):
        for thread in threads:
            thread.start()
        start = time.perf_counter()
        barrier.wait(timeout)
        deadline = start + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.perf_counter()))
        elapsed = time.perf_counter() - start
    stuck = [t for t in threads if t.is_alive()]
    if stuck:
        message = (
            f"race of {n} threads: {len(stuck)} still running after {timeout:g} s "
            f"(expected every worker to finish; deadlock or livelock?). {replay}\n"
            f"Stacks of every thread:\n{dump_stacks()}"
        )
        print(message, file=sys.stderr)
        raise RaceTimeout(message)
    if errors:
        errors.sort(key=lambda pair: pair[0])
        index, first = errors[0]
        first.add_note(f"raised by race worker {index} of {n}. {replay}".rstrip())
        for other_index, other in errors[1:]:
            first.add_note(f"worker {other_index} also raised {other!r}")
        raise first
    return RaceResult(n, elapsed, results)


@dataclass(frozen=True)
class Role:
    """``count`` threads of one kind in a race workload, each calling
    ``step(index, i, rng)``: ``ops`` times (a bounded role), or, with ``ops=None``, again and
    again until every bounded role has finished (a background role: rewriters, a
    compaction loop, churn under a scan). Thread ``index`` draws from
    ``random.Random(seed + index)``, the same generator at every step."""

    name: str
    count: int
    step: Callable[[int, int, random.Random], Any]
    ops: int | None = 1
    seed: int = 0

    def worker(self, index: int, stop: threading.Event) -> Callable[[], None]:
        def body() -> None:
            rng = random.Random(self.seed + index)
            if self.ops is not None:
                for i in range(self.ops):
                    self.step(index, i, rng)
                return
            i = 0
            while not stop.is_set():
                self.step(index, i, rng)
                i += 1

        body.__name__ = f"{self.name}-{index}"
        return body

    @classmethod
    def script(cls, name: str, steps: Sequence[S], do: Callable[[int, S], Any],
               point: Callable[[str], None] | None = None) -> Role:
        """One thread doing ``do(seq, steps[seq])`` for each step in order; with ``point``
        (a scheduler's), ``point(f"between ops of {name}")`` before every step but the first.

        >>> done = []
        >>> for task in tasks([Role.script("t", "ab", lambda seq, s: done.append(s))]):
        ...     task()
        >>> done
        ['a', 'b']
        """

        def step(_index: int, seq: int, _rng: random.Random) -> None:
            if point is not None and seq:
                point(f"between ops of {name}")
            do(seq, steps[seq])

        return cls(name, 1, step, ops=len(steps))


def tasks(roles: Sequence[Role]) -> list[Callable[[], None]]:
    """The threads of bounded ``roles`` as plain tasks, for a runner of their own (the
    controlled scheduler's ``run``); background roles need :func:`run_workload`."""
    if any(role.ops is None for role in roles):
        raise ValueError("background roles (ops=None) stop only under run_workload(); "
                         "give every role a number of ops to run it as plain tasks")
    stop = threading.Event()
    return [role.worker(k, stop) for role in roles for k in range(role.count)]


def run_workload(
    roles: Sequence[Role],
    *,
    timeout: float = 60.0,
    interval: float = DEFAULT_SWITCH_INTERVAL,
    replay: str = "",
) -> RaceResult:
    """Run a race described by its roles, every thread released together.

    Without background roles this is one :func:`run_race` of every bounded thread. With
    them, the bounded threads race among themselves inside one worker of the outer race,
    beside the background threads, which stop once the bounded ones are done (or one
    raised). Timeouts, exceptions and ``replay`` behave as in :func:`run_race`.

    >>> seen = []
    >>> roles = [Role("put", 2, lambda k, i, rng: seen.append((k, i)), ops=3),
    ...          Role("spin", 1, lambda k, i, rng: None, ops=None)]
    >>> run_workload(roles, timeout=5).workers, sorted(seen)[:3]
    (2, [(0, 0), (0, 1), (0, 2)])
    """
    bounded = [r for r in roles if r.ops is not None]
    background = [r for r in roles if r.ops is None]
    if not bounded:
        raise ValueError(
            f"a race workload needs a role with a number of ops, or its background roles "
            f"({[r.name for r in background]}) never stop; give one role ops=N"
        )
    stop = threading.Event()
    finite = tasks(bounded)
    if not background:
        return run_race(finite, timeout=timeout, interval=interval, replay=replay)

    def lead() -> None:
        try:
            run_race(finite, timeout=timeout, interval=interval)
        finally:
            stop.set()

    loops = [role.worker(k, stop) for role in background for k in range(role.count)]
    return run_race([lead, *loops], timeout=timeout, interval=interval, replay=replay)
