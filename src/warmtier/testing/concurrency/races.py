"""Barrier-synchronized races: release threads together, bound them in time, time their ops.

:func:`run_race` starts one thread per worker, holds them at a ``threading.Barrier``,
shortens the interpreter's switch interval so they interleave finely, and waits with a
deadline. A worker that does not finish in time fails the race with every thread's
stack (a deadlock is a failure, not a hang); a worker's exception is re-raised.
:class:`Latencies` records per-operation times and formats percentiles.

>>> hits = []
>>> run_race([lambda: hits.append(1)] * 3, timeout=5).workers
3
>>> len(hits)
3
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

__all__ = [
    "DEFAULT_SWITCH_INTERVAL",
    "Latencies",
    "RaceResult",
    "RaceTimeout",
    "dump_stacks",
    "run_race",
    "switch_interval",
]

DEFAULT_SWITCH_INTERVAL = 1e-5
"""Seconds between forced GIL hand-offs during a race (CPython's default is 5e-3)."""

T = TypeVar("T")


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


@dataclass
class Latencies:
    """Per-operation latencies, recorded from many threads (``list.append`` is atomic).

    >>> lat = Latencies("demo")
    >>> lat.time("get", lambda: 42)
    42
    >>> "get" in lat.table()
    True
    """

    scenario: str
    samples: dict[str, list[float]] = field(default_factory=dict)

    def time(self, op: str, fn: Callable[..., T], *args: Any) -> T:
        """Call ``fn(*args)`` and record how long it took under ``op``."""
        bucket = self.samples.get(op)
        if bucket is None:
            bucket = self.samples.setdefault(op, [])
        start = time.perf_counter()
        try:
            return fn(*args)
        finally:
            bucket.append(time.perf_counter() - start)

    def percentiles(self, op: str) -> dict[str, float]:
        """p50, p90, p99, p99.9 and max of ``op``, in microseconds."""
        data = np.asarray(self.samples[op], dtype=np.float64) * 1e6
        points = np.percentile(data, [50, 90, 99, 99.9])
        return {
            "n": float(data.size),
            "p50": float(points[0]),
            "p90": float(points[1]),
            "p99": float(points[2]),
            "p99.9": float(points[3]),
            "max": float(data.max()),
        }

    def table(self) -> str:
        """One line per operation: count and percentiles in microseconds."""
        lines = [f"latency (us) of {self.scenario}:"]
        lines.append(
            f"  {'op':<10}{'n':>8}{'p50':>10}{'p90':>10}{'p99':>10}{'p99.9':>10}{'max':>11}"
        )
        for op in sorted(self.samples):
            if not self.samples[op]:
                continue
            p = self.percentiles(op)
            lines.append(
                f"  {op:<10}{int(p['n']):>8}{p['p50']:>10.1f}{p['p90']:>10.1f}"
                f"{p['p99']:>10.1f}{p['p99.9']:>10.1f}{p['max']:>11.1f}"
            )
        return "\n".join(lines)
