"""Mapping pages ahead of writers on one background thread per process: the page-cache
work for fresh pages (allocating, zeroing, reading around) leaves the writer's path.

A request is a hint. :meth:`MappedFile.prefault` changes no byte, so a request that has
not run when the writer gets there costs the writer its own page faults, nothing else.
"""

from __future__ import annotations

import os
import queue
import threading
import time

from warmtier.mapped import MappedFile, prefault_works

__all__ = ["AHEAD", "request", "thread_cpu_seconds"]

#: Chunks of :data:`~warmtier.mapped.PREFAULT_BYTES` a writer keeps requested ahead of
#: the one it writes: more than one read-around of the kernel (8 MiB on some machines),
#: so the writer does not catch up with the thread while it zeroes one.
AHEAD = 16

_Request = tuple[MappedFile, int, int]


class _Worker:
    """The process's prefetch thread, started by the first request (again in a forked
    child, which has no thread)."""

    lock = threading.Lock()
    queue: queue.SimpleQueue[_Request] | None = None
    thread: threading.Thread | None = None
    pid = 0


def request(f: MappedFile, start: int, stop: int) -> None:
    """Have ``f.prefault(start, stop)`` run on the prefetch thread."""
    if not prefault_works():
        return
    q = _Worker.queue
    if q is None or _Worker.pid != os.getpid():
        q = _start()
    q.put((f, start, stop))


def thread_cpu_seconds() -> float:
    """The CPU time the prefetch thread of this process has used (0.0 before it starts):
    per-thread CPU figures of the writers leave it out."""
    thread = _Worker.thread
    if thread is None or thread.ident is None or _Worker.pid != os.getpid():
        return 0.0
    return time.clock_gettime(time.pthread_getcpuclockid(thread.ident))


def _start() -> queue.SimpleQueue[_Request]:
    with _Worker.lock:
        if _Worker.queue is None or _Worker.pid != os.getpid():
            q: queue.SimpleQueue[_Request] = queue.SimpleQueue()
            thread = threading.Thread(target=_serve, args=(q,), name="warmtier-prefetch",
                                      daemon=True)
            thread.start()
            _Worker.queue, _Worker.thread, _Worker.pid = q, thread, os.getpid()
        return _Worker.queue


def _serve(q: queue.SimpleQueue[_Request]) -> None:
    while True:
        f, start, stop = q.get()
        f.prefault(start, stop)
