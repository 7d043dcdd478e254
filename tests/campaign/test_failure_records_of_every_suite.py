"""Failure records of the suites the example database does not cover, against a real Redis
server: a crash round's record replays its seed and kill point, a controlled schedule's
record its schedule seed, and a zoo member the suites missed becomes a ``zoo`` record."""

from __future__ import annotations

import json
import re
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from tests.campaign.conftest import RedisServer, machine_env, run
from warmtier.campaign.records import RecordStore
from warmtier.campaign.run import zoo_results

pytestmark = pytest.mark.own_stores  # planted-bug stores of their own

#: Publishes a slot before its content is written: a kill at a failpoint loses a put.
CRASH_STORE = ("tests.zoo.crash_content_copied_after_put_returns:"
               "ContentCopiedAfterPutReturnsStore")
#: Picks the slot before taking the lock: some controlled schedules give two ids one slot.
RACE_STORE = "tests.zoo.race_alloc_outside_lock:AllocOutsideLockStore"
SCHEDULE_BASE = 1000  # the shard's seed: its schedules are 1000 ... 1029


def env_of(home: Path) -> dict[str, str]:
    return machine_env(home, GITHUB_SHA="0" * 40)  # no git call for the commit


def one_shard(tmp_path: Path, url: str, *argv: str) -> str:
    """A quick one-shard campaign (one pytest worker) that must find a failure; its log."""
    shard = run([sys.executable, "-m", "warmtier.campaign.run", "--shard=1/1", "--quick",
                 "--workers=1", f"--out={tmp_path / 'reports'}", "--night=2025-01-31",
                 f"--shared-db={url}", *argv], env_of(tmp_path / "ci"))
    log = shard.stdout + shard.stderr
    assert shard.returncode == 1, f"expected the shard to fail (1), got {shard.returncode}:\n{log}"
    return log


def the_record(tmp_path: Path, url: str) -> dict[str, Any]:
    """The one failure record a developer reads from the shared database (read only), with
    its status, as ``warmtier failures --json`` prints it."""
    store = RecordStore(url, writable=False, root=tmp_path / "dev" / "state")
    records = store.all()
    assert len(records) == 1, f"expected one record, got {len(records)}: {records}"
    return {**asdict(records[0]), "status": records[0].status(store.passes())}


def replayed(tmp_path: Path, url: str, record_id: str) -> tuple[int, str]:
    """``warmtier replay ID`` on a developer's machine: exit status and output."""
    done = run([sys.executable, "-m", "warmtier", "replay", record_id[:6], f"--shared-db={url}"],
               env_of(tmp_path / "dev"))
    return done.returncode, done.stdout + done.stderr


def test_a_crash_failure_record_replays_its_kill_point(redis_server: RedisServer,
                                                        tmp_path: Path) -> None:
    one_shard(tmp_path, redis_server.url, "--suites=crash", "--select=test_crash_kills",
              f"--store={CRASH_STORE}", "--pytest-arg=-k", "--pytest-arg=first_hit")
    record = the_record(tmp_path, redis_server.url)
    assert record["kind"] == "crash", f"expected kind crash, got {record['kind']}"
    point = re.search(r"--replay (\d+):(fp:\S+)", record["replay"])
    assert point, f"expected '--replay SEED:fp:...' in the replay, got {record['replay']!r}"
    assert f"--warmtier-store={CRASH_STORE}" in record["replay"], \
        f"expected the store in the replay, got {record['replay']!r}"
    code, out = replayed(tmp_path, redis_server.url, record["id"])
    seed, kill = point.groups()
    assert code == 1, f"expected the replay to fail again (1), got {code}:\n{out}"
    assert f"replayed seed {seed} at {kill}" in out and "crash round failed" in out, \
        f"expected the round of seed {seed} killed at {kill} to fail again, got:\n{out}"


def test_a_schedule_failure_record_replays_its_schedule_seed(redis_server: RedisServer,
                                                             tmp_path: Path) -> None:
    one_shard(tmp_path, redis_server.url, "--suites=concurrency",
              "--select=test_controlled_schedules", f"--store={RACE_STORE}",
              f"--seed={SCHEDULE_BASE}", "--pytest-arg=-k",
              "--pytest-arg=seeded_schedules and pct")
    record = the_record(tmp_path, redis_server.url)
    assert record["kind"] == "schedule", f"expected kind schedule, got {record['kind']}"
    found = re.search(r"--warmtier-schedule-seed=(\d+)", record["replay"])
    assert found, f"expected --warmtier-schedule-seed=N in the replay, got {record['replay']!r}"
    seed = int(found[1])
    assert SCHEDULE_BASE <= seed < SCHEDULE_BASE + 30, \
        f"expected one of the shard's schedules {SCHEDULE_BASE}..{SCHEDULE_BASE + 29}, got {seed}"
    code, out = replayed(tmp_path, redis_server.url, record["id"])
    assert code == 1, f"expected the replay to fail again (1), got {code}:\n{out}"
    assert f"pct schedule, seed {seed}:" in out and "1 failed" in out, \
        f"expected schedule {seed} alone to fail again, got:\n{out}"


def test_a_zoo_member_not_caught_becomes_a_zoo_record_with_a_replay_command(
        redis_server: RedisServer, tmp_path: Path) -> None:
    # What the zoo runner writes (--json), for one member caught and one missed.
    report = tmp_path / "zoo.json"
    report.write_text(json.dumps({"rows": [
        {"name": "alloc_no_coalesce", "spec": "tests.zoo.alloc_no_coalesce:NoCoalesceStore",
         "status": "caught", "description": "free extents never merge",
         "runs": [{"wall_seconds": 4.0}]},
        {"name": "search_ties_by_slot", "spec": "tests.zoo.search_ties_by_slot:SearchTiesBySlotStore",
         "status": "missed", "description": "search breaks ties by slot, not by id",
         "runs": [{"wall_seconds": 30.0}, {"wall_seconds": 9.0}]}]}))
    rows = json.loads(report.read_text())["rows"]
    store = RecordStore(redis_server.url, writable=True, root=tmp_path / "ci" / "state")
    part = zoo_results(rows, units=2, seconds=40.0, store=store)
    assert part["counts"] == {"zoo_members": 2, "zoo_caught": 1}, \
        f"expected 1 of 2 members caught, got {part['counts']}"
    assert [f["kind"] for f in part["failures"]] == ["zoo"], \
        f"expected one zoo failure, got {part['failures']}"

    record = the_record(tmp_path, redis_server.url)
    expected = {"kind": "zoo", "test": "zoo:search_ties_by_slot", "suite": "zoo",
                "store": "tests.zoo.search_ties_by_slot:SearchTiesBySlotStore", "status": "failing"}
    got = {key: record[key] for key in expected}
    assert got == expected, f"expected {expected}, got {got}"
    assert "missed" in record["message"], f"expected the verdict, got {record['message']!r}"
    shown = run([sys.executable, "-m", "warmtier", "replay", record["id"][:6], "--print",
                 f"--shared-db={redis_server.url}"], env_of(tmp_path / "dev"))
    command = f"{sys.executable} -m warmtier.testing.meta.zoo_runner --only search_ties_by_slot"
    assert shown.returncode == 0 and command in shown.stdout, \
        f"expected the replay to rerun the member ({command!r}), got:\n{shown.stdout}"
    passes = redis_server.client().hgetall("warmtier:passes")  # type: ignore[attr-defined]
    assert list(passes) == [b"zoo:alloc_no_coalesce"], \
        f"expected the caught member noted as passing, got {list(passes)}"
