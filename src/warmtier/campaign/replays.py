"""The replay command of a campaign failure: the line the failure printed (chosen by
:func:`warmtier.testing.meta.first_failure.replay_line`), with the run's crash seed.

A command built from the node id gets the run's ``--crash-seed``, without which a crash
test's replay draws a new seed.
"""

from __future__ import annotations

import re

from warmtier.testing.meta.first_failure import replay_line

__all__ = ["campaign_replay", "with_crash_seed"]

_SEEDED = re.compile(r"--(?:crash-)?(?:seed|replay)\b")


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
    return with_crash_seed(replay_line(text, nodeid, spec, profile), crash_seed)
