"""The replay command of a campaign failure: the line the failure printed (read by
:func:`warmtier.testing.meta.first_failure.replay_line`), made to reproduce crash failures.

Two corrections, both for the crash suite: a timed kill point (``SEED:time:MS``, which a
replay only lands near) gives way to an exact one the same failure printed, and a command
built from the node id gets the run's ``--crash-seed``, without which it draws a new seed.
"""

from __future__ import annotations

import re

from warmtier.testing.meta.first_failure import replay_line

__all__ = ["campaign_replay", "exact_kill_point", "with_crash_seed"]

_PRINTED = re.compile(r"^\s*(?:E\s+)?replay:\s*((?:nox|pytest|python)\b.+?)\s*$", re.MULTILINE)
_TIMED = re.compile(r"--(?:crash-)?replay[= ]'?\d+:time:")
_SEEDED = re.compile(r"--(?:crash-)?(?:seed|replay)\b")


def exact_kill_point(replay: str, text: str) -> str:
    """``replay``, unless it kills at a timed point and ``text`` printed another replay
    line with an exact one: then the last such line.

    >>> text = "replay: nox -s crash -- --replay 5:op:9\\nreplay: nox -s crash -- --replay 6:time:40"
    >>> exact_kill_point("nox -s crash -- --replay 6:time:40", text)
    'nox -s crash -- --replay 5:op:9'
    >>> exact_kill_point("nox -s crash -- --replay 6:time:40", "replay: nox -s crash -- --replay 6:time:40")
    'nox -s crash -- --replay 6:time:40'
    """
    if not _TIMED.search(replay):
        return replay
    exact = [line for line in _PRINTED.findall(text)
             if "--replay" in line and not _TIMED.search(line)]
    return exact[-1] if exact else replay


def with_crash_seed(replay: str, seed: int | None) -> str:
    """A pytest replay command with the run's ``--crash-seed`` when the run was given one
    and the command names neither it nor a ``--replay SEED:POINT``.

    >>> with_crash_seed("python -m pytest tests/crash/t.py::x --hypothesis-profile=ci", 7)
    'python -m pytest tests/crash/t.py::x --hypothesis-profile=ci --crash-seed=7'
    >>> with_crash_seed("nox -s crash -- --replay 7:op:3", 9)
    'nox -s crash -- --replay 7:op:3'
    """
    words = replay.split()
    pytest_command = words[:1] == ["pytest"] or words[:3] == ["python", "-m", "pytest"]
    if seed is None or not pytest_command or _SEEDED.search(replay):
        return replay
    return f"{replay} --crash-seed={int(seed)}"


def campaign_replay(text: str, nodeid: str, spec: str, profile: str,
                    crash_seed: int | None) -> str:
    """The replay command a campaign records for one failure of ``nodeid``."""
    replay = exact_kill_point(replay_line(text, nodeid, spec, profile), text)
    return with_crash_seed(replay, crash_seed)
