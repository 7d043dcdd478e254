"""A pytest plugin that records the first failing test of a run, for the zoo runner.

Load it with ``-p warmtier.testing.meta.first_failure`` and set ``WARMTIER_FIRST_FAILURE``
to a file path: at the end of the session that file holds JSON with the run's counts and
the first failure, already read: node id, phase, seconds since the session started, the
steps of the shrunk stateful counterexample, the replay command, whether it was a usage
error rather than a verdict, an excerpt, and the failure text itself. This module is the
one place that reads pytest's failure text; the zoo runner reads only the JSON. Without
the variable the plugin does nothing.

Loading it also registers two Hypothesis profiles for runs that only need to know
*whether* a bug is caught, not its smallest counterexample: ``ci-noshrink`` is the ``ci``
profile's search (same examples, same steps) without the shrink phase; ``mutmut``, for the
nightly mutation run, is a third of that search, derandomized and without the example
database, so each mutant meets the same examples and no mutant's failure replays into
the next one's run.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import time
from typing import Any

import pytest
from hypothesis import Phase, settings

from warmtier.testing.properties import profiles

__all__ = [
    "MUTATION_PROFILE",
    "NO_SHRINK_PROFILE",
    "REPORT_ENV",
    "counterexample_steps",
    "excerpt",
    "is_usage_error",
    "replay_line",
]

REPORT_ENV = "WARMTIER_FIRST_FAILURE"
NO_SHRINK_PROFILE = "ci-noshrink"
MUTATION_PROFILE = "mutmut"

profiles.register_profiles()
settings.register_profile(
    NO_SHRINK_PROFILE,
    parent=settings.get_profile("ci"),
    phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.target),
)
settings.register_profile(
    MUTATION_PROFILE,
    parent=settings.get_profile(NO_SHRINK_PROFILE),
    max_examples=35,
    derandomize=True,
    database=None,
)

_STEP = re.compile(r"^(?:E)?\s*(?:[\w, ()]+ = )?state\.(\w+)\((.?)", re.MULTILINE)
_REPLAY = re.compile(r"^\s*(?:E\s+)?Replay:\s*(.+?)\s*$", re.MULTILINE)
_REPLAY_LOWER = re.compile(r"^\s*(?:E\s+)?replay:\s*((?:nox|pytest|python)\b.+?)\s*$",
                           re.MULTILINE)
#: A timed kill point (``SEED:time:MS``): a replay only lands near its instant.
_TIMED = re.compile(r"--(?:crash-)?replay[= ]'?\d+:time:")
_REPRODUCE = re.compile(r"@reproduce_failure\(\s*'([^']+)'\s*,\s*(b'[^']*')\s*\)")
_USAGE = re.compile(r"UsageError|--warmtier-store='[^']*': (cannot import|expected|\S+ has no|\S+ lacks)")


def is_usage_error(text: str) -> bool:
    """Whether a failure is the run failing to start (a bad ``--warmtier-store``), which
    judges nothing about the store.

    >>> is_usage_error("pytest.UsageError: --warmtier-store='m:X': cannot import 'm'")
    True
    """
    return bool(_USAGE.search(text))


def counterexample_steps(text: str) -> int | None:
    """Steps of the stateful program Hypothesis printed (``state.rule(...)`` lines,
    teardown excluded), or None when the text holds no such program.

    >>> counterexample_steps("state = M()\\nstate.put(id='a')\\nv = state.get(id='a')\\n"
    ...                      "state.teardown()")
    2
    >>> counterexample_steps("E  state = M()\\nE  state.create()\\nE  state.inv()\\n"
    ...                      "E  (k_0,) = state.grow(n=1)\\nE  state.inv()\\nE  state.teardown()")
    2
    """
    if "state = " not in text:
        return None
    program = text[text.rfind("state = ") :]
    calls = [(name, arg != ")") for name, arg in _STEP.findall(program) if name != "teardown"]
    # Invariants are printed after every step, as calls without arguments: drop a name
    # that takes every other line.
    odd = {name for name, has_args in calls[1::2] if not has_args}
    if len(odd) == 1 and calls and all(name in odd for name, _ in calls[1::2]):
        invariant = odd.pop()
        calls = [c for c in calls if c[0] != invariant]
    return len(calls)


def replay_line(text: str, nodeid: str, spec: str, profile: str = "ci") -> str:
    """The replay command a failure printed (the last one, unless that kills at a timed
    point and the failure printed a crash replay at an exact one: then the last such),
    else one built from its node id.

    >>> replay_line("boom", "tests/t.py::test_x", "pkg.m:C")
    'python -m pytest tests/t.py::test_x --warmtier-store=pkg.m:C --hypothesis-profile=ci'
    >>> replay_line("replay: nox -s crash -- --replay 5:op:9" + chr(10)
    ...             + "replay: nox -s crash -- --replay 6:time:40", "t.py::x", "m:C")
    'nox -s crash -- --replay 5:op:9'
    >>> replay_line("replay: nox -s crash -- --replay 6:time:40", "t.py::x", "m:C")
    'nox -s crash -- --replay 6:time:40'
    """
    found = [str(line) for line in _REPLAY.findall(text) or _REPLAY_LOWER.findall(text)]
    if found:
        exact = [line for line in found if "--replay" in line and not _TIMED.search(line)]
        return exact[-1] if _TIMED.search(found[-1]) and exact else found[-1]
    base = ["python", "-m", "pytest", nodeid, f"--warmtier-store={spec}",
            f"--hypothesis-profile={profile}"]
    blob = _REPRODUCE.findall(text)
    if blob:
        version, raw = blob[-1]
        base.append(f"--warmtier-replay={version}:{raw[2:-1]}")
    return shlex.join(base)


def excerpt(text: str, lines: int = 12) -> str:
    """The first ``lines`` lines of a failure, its ``E`` lines when it has any."""
    kept = [ln for ln in text.splitlines() if ln.strip()]
    errors = [ln for ln in kept if ln.lstrip().startswith("E ")]
    return "\n".join((errors or kept)[:lines])


_state: dict[str, Any] = {}


def pytest_sessionstart(session: pytest.Session) -> None:
    _state.clear()
    _state.update(start=time.monotonic(), first=None, passed=0, failed=0, skipped=0,
                  config=session.config)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if not _state:
        return
    if report.when == "call" and report.passed:
        _state["passed"] += 1
    elif report.skipped and report.when in ("setup", "call"):
        _state["skipped"] += 1
    if not report.failed:
        return
    _state["failed"] += 1
    if _state["first"] is None:
        _state["first"] = _read_failure(report, time.monotonic() - _state["start"])


def _read_failure(report: pytest.TestReport, seconds: float) -> dict[str, Any]:
    from warmtier.testing.plugin import store_spec

    text = report.longreprtext + "\n" + "\n".join(body for _, body in report.sections)
    return {
        "nodeid": report.nodeid,
        "when": report.when,
        "seconds": round(seconds, 3),
        "test_seconds": round(float(report.duration), 3),
        "usage_error": is_usage_error(text),
        "steps": counterexample_steps(text),
        "replay": replay_line(text, report.nodeid, store_spec(_state["config"]),
                              profiles.active_profile()),
        "excerpt": excerpt(text),
        "text": report.longreprtext,
        "sections": [[title, body] for title, body in report.sections],
    }


def pytest_sessionfinish(session: pytest.Session, exitstatus: int | pytest.ExitCode) -> None:
    path = os.environ.get(REPORT_ENV)
    if not path or not _state:
        return
    out = {
        "exitstatus": int(exitstatus),
        "collected": int(session.testscollected),
        "passed": _state["passed"],
        "failed": _state["failed"],
        "skipped": _state["skipped"],
        "seconds": round(time.monotonic() - _state["start"], 3),
        "first_failure": _state["first"],
    }
    with open(path, "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1)
