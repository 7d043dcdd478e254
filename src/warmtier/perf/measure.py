"""Probes: resident memory, bytes on disk, and per-call latency timers.

>>> lat = Latencies()
>>> with lat.timer():
...     pass
>>> len(lat)
1
"""

from __future__ import annotations

import contextlib
import gc
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

__all__ = ["Latencies", "dir_bytes", "rss_breakdown", "rss_bytes", "settle"]

T = TypeVar("T")


def rss_bytes() -> int:
    """Resident set size of this process (psutil; else /proc; else ru_maxrss)."""
    try:
        import psutil

        return int(psutil.Process().memory_info().rss)
    except ImportError:  # pragma: no cover - psutil is in the test extra
        pass
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:  # pragma: no cover
        import resource

        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def rss_breakdown() -> dict[str, int]:
    """``{"rss", "anon", "file"}`` in bytes: anonymous memory (the heap, where leaks of
    objects show) apart from file-backed pages (mapped store files come and go with the
    page cache). Linux only for the split; elsewhere ``anon`` and ``file`` are -1."""
    out = {"rss": rss_bytes(), "anon": -1, "file": -1}
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    out["anon"] = int(line.split()[1]) * 1024
                elif line.startswith("RssFile:"):
                    out["file"] = int(line.split()[1]) * 1024
    except OSError:
        pass
    return out


def settle() -> int:
    """Collect garbage, then return the RSS: the sample point of leak checks."""
    gc.collect()
    return rss_bytes()


def dir_bytes(path: str | os.PathLike[str]) -> dict[str, int]:
    """``{"apparent": sum of st_size, "allocated": sum of st_blocks * 512}`` under ``path``.

    Apparent size counts sparse holes (what ``ls`` shows); allocated counts disk blocks.
    """
    apparent = allocated = 0
    root = Path(path)
    if root.is_file():
        st = root.stat()
        return {"apparent": st.st_size, "allocated": st.st_blocks * 512}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            try:
                st = os.stat(os.path.join(dirpath, name))
            except FileNotFoundError:
                continue
            apparent += st.st_size
            allocated += st.st_blocks * 512
    return {"apparent": apparent, "allocated": allocated}


class Latencies:
    """Per-call wall times, kept as integer nanoseconds under an operation name.

    The one latency recorder of the project: the scale scenarios time single operations
    (the default ``op``), the barrier races several at once from many threads
    (``list.append`` is atomic). Samples are stored in nanoseconds; the ``*_us`` methods
    convert to microseconds, the unit every printed table and figure uses.

    >>> lat = Latencies("demo")
    >>> lat.time("get", lambda: 42)
    42
    >>> with lat.timer():
    ...     pass
    >>> lat.count("get"), len(lat)
    (1, 2)
    >>> "get" in lat.table()
    True
    """

    CALL = "call"
    """The operation name of a recorder that times one kind of call."""

    def __init__(self, name: str = "") -> None:
        self.name = name
        self.samples_ns: dict[str, list[int]] = {}

    def recorder_ns(self, op: str = CALL) -> Callable[[int], None]:
        """The appender of ``op``'s samples, for hot loops that run their own clock."""
        bucket = self.samples_ns.get(op)
        if bucket is None:
            bucket = self.samples_ns.setdefault(op, [])
        return bucket.append

    def add_ns(self, ns: int, op: str = CALL) -> None:
        """Record one sample of ``ns`` nanoseconds under ``op``."""
        self.recorder_ns(op)(ns)

    def time(self, op: str, fn: Callable[..., T], *args: Any) -> T:
        """Call ``fn(*args)``, record how long it took under ``op``, return its result."""
        add = self.recorder_ns(op)
        start = time.perf_counter_ns()
        try:
            return fn(*args)
        finally:
            add(time.perf_counter_ns() - start)

    @contextlib.contextmanager
    def timer(self, op: str = CALL) -> Iterator[None]:
        """Time the ``with`` block under ``op``."""
        add = self.recorder_ns(op)
        start = time.perf_counter_ns()
        try:
            yield
        finally:
            add(time.perf_counter_ns() - start)

    def ops(self) -> list[str]:
        """The operations with at least one sample, sorted."""
        return sorted(op for op, bucket in self.samples_ns.items() if bucket)

    def count(self, op: str = CALL) -> int:
        return len(self.samples_ns.get(op, ()))

    def __len__(self) -> int:
        return sum(len(bucket) for bucket in self.samples_ns.values())

    def us(self, op: str = CALL) -> npt.NDArray[np.float64]:
        """``op``'s samples in microseconds."""
        return self.slice_us(0, None, op)

    def slice_us(self, start: int, stop: int | None = None,
                 op: str = CALL) -> npt.NDArray[np.float64]:
        """Samples ``start:stop`` of ``op`` in microseconds."""
        return np.asarray(self.samples_ns.get(op, [])[start:stop], dtype=np.float64) / 1e3

    def percentiles_us(self, op: str = CALL) -> dict[str, float]:
        """Count, p50, p90, p99, p99.9 and max of ``op``, in microseconds."""
        data = self.us(op)
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
        lines = [f"latency (us) of {self.name}:"]
        lines.append(
            f"  {'op':<10}{'n':>8}{'p50':>10}{'p90':>10}{'p99':>10}{'p99.9':>10}{'max':>11}"
        )
        for op in self.ops():
            p = self.percentiles_us(op)
            lines.append(
                f"  {op:<10}{int(p['n']):>8}{p['p50']:>10.1f}{p['p90']:>10.1f}"
                f"{p['p99']:>10.1f}{p['p99.9']:>10.1f}{p['max']:>11.1f}"
            )
        return "\n".join(lines)
