"""The campaign's pytest plugin: ``--shared-db``, the ``replay`` profile, progress lines,
and (in a campaign run) failure records and the counts the merged report shows.

``--shared-db=redis://host:port/n`` (or ``$WARMTIER_SHARED_DB``) adds the team's example
database to every profile: read only, unless ``$WARMTIER_SHARED_DB_WRITE=1``. An
unreachable server stops the run at its start, naming the URL. With
``$WARMTIER_CAMPAIGN_RESULTS=FILE`` (set by :mod:`warmtier.campaign.run`) every failure
becomes a record and the run's counts (tests, examples, crash rounds, schedules) and the
seconds of each unit (``$WARMTIER_CAMPAIGN_UNITS``: its test files' setup, call and
teardown, summed) go to FILE.
``--hypothesis-profile=replay`` runs only the examples the databases hold: no new search.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import Phase, settings

from warmtier.campaign.shared_db import (
    CHECKED_ENV,
    SHARED_ENV,
    WRITE_ENV,
    SharedDatabaseError,
    check,
    is_redis_url,
    push_pending_examples,
    redact,
    state_dir,
)
from warmtier.testing.properties import profiles

__all__ = ["PROGRESS_ENV", "REPLAY_PROFILE", "RESULTS_ENV", "SUITE_ENV", "UNITS_ENV"]

RESULTS_ENV = "WARMTIER_CAMPAIGN_RESULTS"
SUITE_ENV = "WARMTIER_CAMPAIGN_SUITE"
#: The run's unit targets, as a JSON list (a test file or a directory of them).
UNITS_ENV = "WARMTIER_CAMPAIGN_UNITS"
PROGRESS_ENV = "WARMTIER_PROGRESS_SECONDS"
REPLAY_PROFILE = "replay"

_STATS = re.compile(r"during (\w+) phase[^\n]*\n[^\n]*\n\s*- (\d+) passing, (\d+) failing, "
                    r"and (\d+) invalid")
_CRASH = {"kill rounds": "crash_rounds", "kills": "kills", "power-loss images": "images",
          "power-loss crash points": "crash_points", "file mutations": "mutations"}


def _register_replay_profile() -> None:
    settings.register_profile(REPLAY_PROFILE, parent=settings.get_profile("ci"),
                              phases=(Phase.explicit, Phase.reuse, Phase.shrink))


_register_replay_profile()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("warmtier")
    group.addoption(
        "--shared-db", dest="warmtier_shared_db", default=None, metavar="URL",
        help=f"the team's failure database, redis://host:port/n (default: ${SHARED_ENV}); "
        f"read only unless ${WRITE_ENV}=1 (campaign shards and CI)")


def _writable() -> bool:
    return os.environ.get(WRITE_ENV) == "1"


def _controller(config: pytest.Config) -> bool:
    return not hasattr(config, "workerinput")


class _Campaign:
    """What one pytest run of a campaign saw, gathered on the controller."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.start = time.monotonic()
        self.last_print = self.start
        self.total = 0
        self.done = 0
        self.counts: dict[str, float] = {}
        self.failures: list[tuple[str, str]] = []  # (nodeid, text)
        self.passed: dict[str, str] = {}
        self.file_seconds: dict[str, float] = {}  # test file -> setup + call + teardown
        self.interval = float(os.environ.get(PROGRESS_ENV, "60"))

    def add(self, name: str, value: float) -> None:
        self.counts[name] = self.counts.get(name, 0.0) + value

    def progress(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last_print < self.interval:
            return
        self.last_print = now
        minutes = max(now - self.start, 1e-9) / 60
        rate = self.done / minutes
        left = (self.total - self.done) / rate if rate and self.total else None
        parts = [f"{self.done}/{self.total or '?'} tests", f"{rate:.1f} tests/min"]
        for key, unit in (("examples", "examples"), ("crash_rounds", "kill rounds"),
                          ("schedules", "schedules")):
            if self.counts.get(key):
                parts.append(f"{self.counts[key]:.0f} {unit} ({self.counts[key] / minutes:.0f}/min)")
        parts.append(f"~{left:.0f} min left" if left is not None else "time left unknown")
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        suite = os.environ.get(SUITE_ENV)
        line = (f"[campaign {suite}] " if suite else "[progress] ") + ", ".join(parts)
        if reporter is not None:
            reporter.write_line(line)


_campaign_key = pytest.StashKey[_Campaign]()


def pytest_configure(config: pytest.Config) -> None:
    given = config.getoption("warmtier_shared_db", default=None)
    if given:
        os.environ[SHARED_ENV] = str(given)
    url = os.environ.get(SHARED_ENV)
    if url:
        if not is_redis_url(url):
            raise pytest.UsageError(f"--shared-db={url!r}: expected redis://host:port/n")
        if _controller(config) and os.environ.get(CHECKED_ENV) != "1":
            try:
                check(url)
            except SharedDatabaseError as exc:
                raise pytest.UsageError(str(exc)) from None
            if _writable():
                from warmtier.campaign.records import RecordStore

                push_pending_examples(url)
                RecordStore(url, writable=True).push_pending()
        profiles.register_profiles()  # the profiles now carry the shared database
        _register_replay_profile()
    if _controller(config):
        config.stash[_campaign_key] = _Campaign(config)


def pytest_report_header(config: pytest.Config) -> str | None:
    url = os.environ.get(SHARED_ENV)
    if not url:
        return None
    mode = "read and write" if _writable() else "read only"
    return f"warmtier shared failure database: {redact(url)} ({mode})"


def pytest_collection_finish(session: pytest.Session) -> None:
    campaign = session.config.stash.get(_campaign_key, None)
    if campaign is not None and not campaign.total:
        campaign.total = len(session.items)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node: Any, ids: list[str]) -> None:
    campaign = node.config.stash.get(_campaign_key, None)
    if campaign is not None:
        campaign.total = max(campaign.total, len(ids))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    campaign = _current
    if campaign is None:
        return
    path = report.nodeid.split("::")[0]
    campaign.file_seconds[path] = campaign.file_seconds.get(path, 0.0) + float(report.duration)
    if report.when == "teardown":
        campaign.done += 1
        stats = report.__dict__.get("_hypothesis_stats")
        if isinstance(stats, str):
            for phase, ok, bad, invalid in _STATS.findall(stats):
                if phase == "shrink":
                    campaign.add("shrinks", int(ok) + int(bad) + int(invalid))
                    continue
                campaign.add("examples", int(ok) + int(bad))
                if phase == "reuse":
                    campaign.add("replayed", int(ok) + int(bad))
                    campaign.add("replayed_failing", int(bad))
        campaign.progress()
    for key, value in report.user_properties:
        if report.when != "call" or not isinstance(key, str):
            continue
        if key.startswith("crash: ") and key[7:] in _CRASH:
            campaign.add(_CRASH[key[7:]], float(str(value)))
        elif key == "schedules":
            campaign.add("schedules", float(str(value)))
    if report.failed:
        body = report.longreprtext + "\n" + "\n".join(b for _, b in report.sections)
        campaign.failures.append((report.nodeid, body))
        campaign.add("failed", 1)
    elif report.when == "call" and report.passed:
        campaign.add("passed", 1)
        from warmtier.campaign.records import now

        campaign.passed[report.nodeid] = now()
    elif report.skipped and report.when in ("setup", "call"):
        campaign.add("skipped", 1)


_current: _Campaign | None = None


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    global _current
    _current = session.config.stash.get(_campaign_key, None)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    campaign = _current
    if campaign is None:
        return
    c = campaign.counts
    if c.get("replayed"):
        terminalreporter.write_line(
            f"warmtier: {c['replayed']:.0f} examples replayed first from the example "
            f"databases ({c.get('replayed_failing', 0):.0f} failing)")
    pending = state_dir() / "pending"
    waiting = list(pending.glob("*.json*")) if pending.is_dir() else []
    if waiting and os.environ.get(SHARED_ENV):
        terminalreporter.write_line(
            f"warmtier: {len(waiting)} journal(s) of writes for the shared database wait in "
            f"{pending}; the next run pushes them")


def _unit_seconds(campaign: _Campaign, suite: str) -> dict[str, float]:
    from warmtier.campaign.durations import unit_seconds

    try:
        targets = [str(t) for t in json.loads(os.environ.get(UNITS_ENV) or "[]")]
    except ValueError:
        targets = []
    return unit_seconds(campaign.file_seconds, suite, targets)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int | pytest.ExitCode) -> None:
    campaign = _current
    out = os.environ.get(RESULTS_ENV)
    if campaign is None or not out:
        return
    campaign.progress(force=True)
    from warmtier.campaign.records import FailureRecord, RecordStore
    from warmtier.campaign.replays import campaign_replay
    from warmtier.testing.plugin import store_spec

    suite = os.environ.get(SUITE_ENV, "tests")
    spec = store_spec(session.config)
    store = RecordStore(os.environ.get(SHARED_ENV), writable=True)
    failures = []
    for nodeid, text in campaign.failures:
        replay = campaign_replay(text, nodeid, spec, profiles.active_profile(),
                                 session.config.getoption("crash_seed", default=None))
        seen = FailureRecord.observed(suite=suite, test=nodeid, text=text, replay=replay,
                                      store=spec)
        record, new = store.add(seen)
        failures.append({"id": record.id, "test": nodeid, "kind": record.kind, "new": new,
                         "count": record.count, "first_seen": record.first_seen,
                         "replay": record.replay, "message": record.message})
    store.passed(campaign.passed)
    result = {"suite": suite, "tests": campaign.done, "exitstatus": int(exitstatus),
              "seconds": round(time.monotonic() - campaign.start, 2),
              "counts": campaign.counts, "failures": failures,
              "unit_seconds": _unit_seconds(campaign, suite),
              "shared_db_down": store.down and bool(os.environ.get(SHARED_ENV))}
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(result, indent=1), encoding="utf-8")
