"""Named fault-injection points: the store calls ``failpoint(name)``, tests arm actions.

Unarmed, ``failpoint`` is one global truth test. Armed, each hit of a matching name
runs the action (raise, call a function, kill the process) when its hit filter agrees.

>>> from warmtier import failpoints
>>> with failpoints.armed("put.*", failpoints.Raise(RuntimeError("boom"))):
...     try:
...         failpoints.failpoint("put.after_content")
...     except RuntimeError as exc:
...         print(exc)
boom
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

__all__ = [
    "Action",
    "Arming",
    "Call",
    "Count",
    "InjectedFault",
    "Kill",
    "Raise",
    "arm",
    "armed",
    "disarm",
    "disarm_all",
    "failpoint",
]


class InjectedFault(Exception):
    """The default exception raised by :class:`Raise`: a panic injected by a test."""


class Action:
    """What an armed failpoint does on a hit. Subclasses override ``__call__``."""

    def __call__(self, name: str) -> None:  # pragma: no cover - interface
        raise NotImplementedError


@dataclass
class Raise(Action):
    """Raise an exception (a fresh ``InjectedFault`` naming the point by default)."""

    exception: BaseException | Callable[[str], BaseException] | None = None

    def __call__(self, name: str) -> None:
        if self.exception is None:
            raise InjectedFault(f"injected fault at failpoint {name!r}")
        if isinstance(self.exception, BaseException):
            raise self.exception
        raise self.exception(name)


@dataclass
class Call(Action):
    """Call ``function(name)``: pause, yield to a scheduler, record, or anything else."""

    function: Callable[[str], object]

    def __call__(self, name: str) -> None:
        self.function(name)


@dataclass
class Kill(Action):
    """Kill this process at once with ``signal`` (SIGKILL: no cleanup, no flush)."""

    signal: int = signal.SIGKILL

    def __call__(self, name: str) -> None:
        os.kill(os.getpid(), self.signal)


@dataclass
class Count(Action):
    """Count hits per name; arm it with pattern ``*`` to learn which points a workload reaches."""

    hits: dict[str, int] = field(default_factory=dict)

    def __call__(self, name: str) -> None:
        self.hits[name] = self.hits.get(name, 0) + 1


@dataclass(eq=False)
class Arming:
    """One armed pattern: run ``action`` on the hits numbered in ``[skip, skip + times)``.

    ``skip=2, times=1`` fires on the third hit only; ``times=None`` fires forever.
    ``thread`` restricts hits to one thread (by ident) when set.
    """

    pattern: str
    action: Action
    skip: int = 0
    times: int | None = None
    thread: int | None = None
    hits: int = 0
    fired: int = 0

    def matches(self, name: str) -> bool:
        if self.thread is not None and threading.get_ident() != self.thread:
            return False
        return name == self.pattern or fnmatch.fnmatchcase(name, self.pattern)


_lock = threading.Lock()
_armings: list[Arming] = []


def failpoint(name: str) -> None:
    """Mark a point where a fault matters. Costs one list truth test when nothing is armed."""
    if _armings:
        _hit(name)


def _hit(name: str) -> None:
    to_run: list[Arming] = []
    with _lock:
        for arming in _armings:
            if not arming.matches(name):
                continue
            arming.hits += 1
            if arming.hits <= arming.skip:
                continue
            if arming.times is not None and arming.fired >= arming.times:
                continue
            arming.fired += 1
            to_run.append(arming)
    for arming in to_run:
        arming.action(name)


def arm(
    pattern: str,
    action: Action,
    *,
    skip: int = 0,
    times: int | None = None,
    thread: int | None = None,
) -> Arming:
    """Arm ``pattern`` (a name or an fnmatch pattern) with ``action``; returns the arming."""
    arming = Arming(pattern, action, skip=skip, times=times, thread=thread)
    with _lock:
        _armings.append(arming)
    return arming


def disarm(arming: Arming) -> None:
    """Remove one arming (no error if it is already gone)."""
    with _lock, contextlib.suppress(ValueError):
        _armings.remove(arming)


def disarm_all() -> None:
    """Remove every arming."""
    with _lock:
        _armings.clear()


@contextlib.contextmanager
def armed(
    pattern: str,
    action: Action,
    *,
    skip: int = 0,
    times: int | None = None,
    thread: int | None = None,
) -> Iterator[Arming]:
    """Arm ``pattern`` for the duration of a ``with`` block."""
    arming = arm(pattern, action, skip=skip, times=times, thread=thread)
    try:
        yield arming
    finally:
        disarm(arming)
