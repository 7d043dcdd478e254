"""Probes: resident memory, bytes on disk, and per-call latency timers.

>>> lat = Latencies()
>>> with lat.time():
...     pass
>>> len(lat)
1
"""

from __future__ import annotations

import contextlib
import gc
import os
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt

__all__ = ["Latencies", "dir_bytes", "rss_breakdown", "rss_bytes", "settle"]


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
    """Per-call wall times in nanoseconds, appended by :meth:`time` or :meth:`add`."""

    def __init__(self) -> None:
        self._ns: list[int] = []

    @contextlib.contextmanager
    def time(self) -> Iterator[None]:
        t0 = time.perf_counter_ns()
        try:
            yield
        finally:
            self._ns.append(time.perf_counter_ns() - t0)

    def add(self, ns: int) -> None:
        self._ns.append(ns)

    def __len__(self) -> int:
        return len(self._ns)

    def us(self) -> npt.NDArray[np.float64]:
        """The samples in microseconds."""
        return np.asarray(self._ns, dtype=np.float64) / 1e3

    def slice_us(self, start: int, stop: int | None = None) -> npt.NDArray[np.float64]:
        return np.asarray(self._ns[start:stop], dtype=np.float64) / 1e3
