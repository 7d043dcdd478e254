"""A pytest plugin that records the first failing test of a run, for the zoo runner.

Load it with ``-p warmtier.testing.first_failure`` and set ``WARMTIER_FIRST_FAILURE`` to a
file path: at the end of the session that file holds JSON with the first failure (node
id, phase, seconds since the session started, the failure text) and the run's counts.
Without the variable the plugin does nothing.

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
import time
from typing import Any

import pytest
from hypothesis import Phase, settings

from warmtier.testing import profiles

__all__ = ["MUTATION_PROFILE", "NO_SHRINK_PROFILE", "REPORT_ENV"]

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

_state: dict[str, Any] = {}


def pytest_sessionstart(session: pytest.Session) -> None:
    _state.clear()
    _state.update(start=time.monotonic(), first=None, passed=0, failed=0, skipped=0)


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
        _state["first"] = {
            "nodeid": report.nodeid,
            "when": report.when,
            "seconds": round(time.monotonic() - _state["start"], 3),
            "test_seconds": round(float(report.duration), 3),
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
