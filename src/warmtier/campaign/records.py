"""Failure records: the failures a Hypothesis example database does not hold (crash seed
and kill point, schedule seed, zoo verdict, power-loss image), one record per test and fingerprint.

Each record carries first seen, last seen, count, commit, machine and the exact replay
command. They live in the Redis hash ``warmtier:failures`` (id -> JSON) with a copy in
``.warmtier/failures/``; while the server is down, writes wait in ``.warmtier/pending/``.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import os
import re
import socket
import subprocess
import uuid
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from warmtier.campaign.shared_db import SharedDatabaseWarning, connect, redact, state_dir

__all__ = [
    "FAILING",
    "FIXED",
    "FailureRecord",
    "RecordStore",
    "commit",
    "fingerprint",
    "kind_of",
    "machine",
    "now",
    "record_id",
]

HASH = "warmtier:failures"
PASSES = "warmtier:passes"
FAILING = "failing"
FIXED = "fixed"

_POWER_LOSS = re.compile(r"--(?:crash-)?replay[= ]'?\d+:pl\b")
_NOISE = re.compile(r"0x[0-9a-fA-F]+|\b\d+(\.\d+)?\b|'[^']{12,}'|/\S+")
#: Kill points (``fp:NAME:KIND:K``, ``pl:N``, ...) and the "(where it landed)" after them:
#: one bug is hit at other points on other nights, by other seeds.
_WHERE = re.compile(r"\b(?:fp|raise|enospc|hit|op|time|pl|fz):\S+|\([^)]*\)")


def now() -> str:
    """UTC time as ``2025-01-31T02:17:00Z`` (sorts as text)."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def commit() -> str:
    """The commit under test: ``$GITHUB_SHA``, else ``git rev-parse HEAD``, else ``unknown``."""
    if os.environ.get("GITHUB_SHA"):
        return os.environ["GITHUB_SHA"]
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=10, check=False)
    except OSError:
        return "unknown"
    return out.stdout.strip() or "unknown"


def machine() -> str:
    """This machine's name: ``$WARMTIER_MACHINE``, ``$RUNNER_NAME`` (GitHub), or the host."""
    return os.environ.get("WARMTIER_MACHINE") or os.environ.get("RUNNER_NAME") or \
        socket.gethostname()


def fingerprint(text: str) -> str:
    """What tells two failures of one test apart: the exception and its first message
    line, with numbers, addresses, long quoted values and paths masked.

    A failure without ``E`` lines (``pytest.fail(..., pytrace=False)``, as the crash suite
    reports) is known by its first line that is not a replay line, kill points and the
    "(where)" after them masked too.

    >>> fingerprint("E   AssertionError: got 17 at 0x7f00") == fingerprint(
    ...     "E   AssertionError: got 3 at 0x1")
    True
    >>> a = "crash round failed for store m:S: seed 4, kill point fp:put.x:put:2 (in put)"
    >>> b = "crash round failed for store m:S: seed 9, kill point op:7 (after remove)"
    >>> c = a + chr(10) + "replay: nox -s crash -- --replay 4:fp:put.x:put:2"
    >>> fingerprint(c) == fingerprint(b)
    True
    """
    lines = [ln.strip()[1:].strip() for ln in text.splitlines() if ln.startswith("E ")]
    head = next((ln for ln in lines if ln), "")
    if not head:
        plain = [ln.strip() for ln in text.splitlines() if ln.strip()]
        head = _WHERE.sub("#", next((ln for ln in plain if not ln.startswith("replay:")), ""))
    return hashlib.sha1(_NOISE.sub("#", head)[:300].encode()).hexdigest()[:12]


def kind_of(replay: str, text: str = "") -> str:
    """``crash``, ``power-loss``, ``schedule``, ``hypothesis``, ``zoo`` or ``test``.

    >>> kind_of("nox -s crash -- --replay 7:pl#3")
    'power-loss'
    >>> kind_of("pytest t.py::x -p no:xdist --warmtier-schedule-seed=4")
    'schedule'
    >>> kind_of("nox -s crash -- --replay 7:op:3 --warmtier-store=m:plain_store")
    'crash'
    """
    if "zoo_runner" in replay:
        return "zoo"
    if "--replay" in replay or "--crash-replay" in replay:
        return "power-loss" if _POWER_LOSS.search(replay) else "crash"
    if "--warmtier-schedule-seed" in replay:
        return "schedule"
    if "--crash-seed" in replay:
        return "crash"
    if "--warmtier-replay" in replay or "@reproduce_failure" in text:
        return "hypothesis"
    return "test"


def record_id(test: str, print_: str) -> str:
    """The record's id: a short hash of the test and the fingerprint."""
    return hashlib.sha1(f"{test}\0{print_}".encode()).hexdigest()[:10]


@dataclass(frozen=True)
class FailureRecord:
    """One distinct failure of one test, however often it was seen."""

    id: str
    suite: str
    test: str
    fingerprint: str
    kind: str
    replay: str
    message: str
    first_seen: str
    last_seen: str
    count: int
    commit: str
    machine: str
    store: str = ""

    @classmethod
    def observed(cls, *, suite: str, test: str, text: str, replay: str, store: str = "",
                 when: str | None = None) -> FailureRecord:
        """A record of one sighting, now, on this machine and commit."""
        at = when or now()
        fp = fingerprint(text)
        first = next((ln.strip()[1:].strip() for ln in text.splitlines()
                      if ln.startswith("E ") and ln.strip()[1:].strip()), text.strip()[:200])
        return cls(id=record_id(test, fp), suite=suite, test=test, fingerprint=fp,
                   kind=kind_of(replay, text), replay=replay, message=first[:300],
                   first_seen=at, last_seen=at, count=1, commit=commit(), machine=machine(),
                   store=store)

    def merged(self, other: FailureRecord) -> FailureRecord:
        """Both sightings in one record: counts add, the later one's details win."""
        later = other if other.last_seen >= self.last_seen else self
        return replace(later, first_seen=min(self.first_seen, other.first_seen),
                       last_seen=max(self.last_seen, other.last_seen),
                       count=self.count + other.count)

    def status(self, passes: Mapping[str, str]) -> str:
        """``fixed`` once its test passed after it was last seen, else ``failing``."""
        return FIXED if passes.get(self.test, "") > self.last_seen else FAILING

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, raw: str | bytes) -> FailureRecord:
        data = json.loads(raw)
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


class RecordStore:
    """Failure records and last passes, in Redis when ``url`` is given and a local copy.

    Writes go to Redis only when ``writable``; a server that fails mid-run turns this
    store local with one warning, and :meth:`push_pending` sends what waited.
    """

    def __init__(self, url: str | None, *, writable: bool, root: Path | None = None) -> None:
        self.url = url
        self.writable = writable
        self.root = root if root is not None else state_dir()
        self.down = url is None
        self._client: Any = connect(url) if url else None

    # -- local files ------------------------------------------------------------------
    def _local(self) -> Path:
        return self.root / "failures"

    def _pending(self) -> Path:
        return self.root / "pending"

    def _write_local(self, record: FailureRecord) -> None:
        self._local().mkdir(parents=True, exist_ok=True)
        path = self._local() / f"{record.id}.json"
        with contextlib.suppress(OSError, ValueError):
            record = FailureRecord.from_json(path.read_text(encoding="utf-8")).merged(record)
        tmp = path.with_suffix(f".{uuid.uuid4().hex[:6]}.tmp")
        tmp.write_text(record.to_json(), encoding="utf-8")
        tmp.replace(path)

    def _local_records(self) -> dict[str, FailureRecord]:
        found: dict[str, FailureRecord] = {}
        for path in sorted(self._local().glob("*.json")):
            with contextlib.suppress(OSError, ValueError):
                rec = FailureRecord.from_json(path.read_text(encoding="utf-8"))
                found[rec.id] = rec
        return found

    def _local_passes(self) -> dict[str, str]:
        path = self.root / "passes.json"
        with contextlib.suppress(OSError, ValueError):
            return dict(json.loads(path.read_text(encoding="utf-8")))
        return {}

    def _park(self, name: str, payload: str) -> None:
        self._pending().mkdir(parents=True, exist_ok=True)
        (self._pending() / f"{name}-{uuid.uuid4().hex[:8]}.json").write_text(
            payload, encoding="utf-8")

    # -- the server -------------------------------------------------------------------
    def _went_away(self, exc: BaseException) -> None:
        if not self.down:
            self.down = True
            warnings.warn(SharedDatabaseWarning(
                f"shared failure database {redact(self.url or '')} went away ({exc}); "
                f"failure records are kept in {self._pending()} and pushed at the next run"),
                stacklevel=3)

    def _merge_remote(self, record: FailureRecord) -> tuple[FailureRecord, bool]:
        import redis

        with self._client.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(HASH)
                    raw = pipe.hget(HASH, record.id)
                    merged = record if raw is None else FailureRecord.from_json(raw).merged(record)
                    pipe.multi()
                    pipe.hset(HASH, record.id, merged.to_json())
                    pipe.execute()
                    return merged, raw is None
                except redis.exceptions.WatchError:
                    continue

    def _errors(self) -> tuple[type[BaseException], ...]:
        import redis

        return (redis.exceptions.RedisError, OSError)

    # -- the interface ----------------------------------------------------------------
    def add(self, record: FailureRecord) -> tuple[FailureRecord, bool]:
        """Count one sighting; return the merged record and whether it is new."""
        known = self._local_records().get(record.id)
        self._write_local(record)
        if self.writable and not self.down:
            try:
                return self._merge_remote(record)
            except self._errors() as exc:
                self._went_away(exc)
        if self.writable and self.url:
            self._park("record", record.to_json())
        return (known.merged(record) if known else record), known is None

    def passed(self, tests: Mapping[str, str]) -> None:
        """Note that these tests passed (test -> time), which marks older records fixed."""
        if not tests:
            return
        local = self._local_passes()
        local.update({t: max(w, local.get(t, "")) for t, w in tests.items()})
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "passes.json").write_text(json.dumps(local, sort_keys=True),
                                               encoding="utf-8")
        if self.writable and not self.down:
            try:
                self._client.hset(PASSES, mapping=dict(tests))
                return
            except self._errors() as exc:
                self._went_away(exc)
        if self.writable and self.url:
            self._park("passes", json.dumps(dict(tests)))

    def all(self) -> list[FailureRecord]:
        """Every record: the server's merged with the local copies, newest first."""
        records = self._local_records()
        if not self.down:
            try:
                for raw in self._client.hvals(HASH):
                    rec = FailureRecord.from_json(raw)
                    mine = records.get(rec.id)
                    records[rec.id] = rec if mine is None or mine.count <= rec.count else mine
            except self._errors() as exc:
                self._went_away(exc)
        return sorted(records.values(), key=lambda r: r.last_seen, reverse=True)

    def passes(self) -> dict[str, str]:
        """Test -> the last time it passed in a campaign or a replay."""
        found = self._local_passes()
        if not self.down:
            try:
                for test, when in self._client.hgetall(PASSES).items():
                    t, w = test.decode(), when.decode()
                    found[t] = max(w, found.get(t, ""))
            except self._errors() as exc:
                self._went_away(exc)
        return found

    def get(self, prefix: str) -> FailureRecord | None:
        """The record whose id starts with ``prefix`` (None when none or several do)."""
        hits = [r for r in self.all() if r.id.startswith(prefix)]
        return hits[0] if len(hits) == 1 else None

    def push_pending(self) -> int:
        """Send the records and passes that waited for the server; return how many."""
        if self.down or not self.writable:
            return 0
        pushed = 0
        for path in sorted(self._pending().glob("record-*.json")):
            self._merge_remote(FailureRecord.from_json(path.read_text(encoding="utf-8")))
            path.unlink()
            pushed += 1
        for path in sorted(self._pending().glob("passes-*.json")):
            self._client.hset(PASSES, mapping=json.loads(path.read_text(encoding="utf-8")))
            path.unlink()
            pushed += 1
        return pushed


def since(records: Iterable[FailureRecord], date: str) -> list[FailureRecord]:
    """Records first seen on or after ``date`` (``YYYY-MM-DD`` or a full timestamp)."""
    return [r for r in records if r.first_seen >= date]
