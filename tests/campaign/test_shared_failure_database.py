"""The nightly campaign against a real Redis server: two shards of a short campaign hunt a
planted bug, and what one shard finds is replayed first everywhere; a server killed in the
middle of a run loses nothing; an unreachable one stops a run at its start, naming it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.campaign.conftest import (
    PLANTED,
    REPO,
    RedisServer,
    campaign_argv,
    free_port,
    machine_env,
    run,
)

DEV_TEST = "tests/properties/test_store_machine.py::test_store_agrees_with_model_after_every_step"


pytestmark = pytest.mark.own_stores  # a planted-bug store of its own

def dev_replay(home: Path, url: str | None) -> subprocess.CompletedProcess[str]:
    """A developer's run: replay profile (only the databases' examples, no new search)."""
    env = machine_env(home, **({"WARMTIER_SHARED_DB": url} if url else {}))
    return run([sys.executable, "-m", "pytest", DEV_TEST, f"--warmtier-store={PLANTED}",
                "--hypothesis-profile=replay", "-p", "no:cacheprovider", "-p", "no:xdist"], env)


def test_a_failure_found_by_one_shard_is_replayed_first_by_developers_and_by_its_record(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    out = tmp_path / "reports"
    shards = [subprocess.Popen(campaign_argv(f"{i}/2", out, f"--shared-db={redis_server.url}"),
                               cwd=REPO, env=machine_env(tmp_path / f"ci-{i}"),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
              for i in (1, 2)]
    logs = [p.communicate(timeout=120)[0] for p in shards]
    codes = [p.returncode for p in shards]
    assert sorted(codes) == [0, 1], f"one shard finds the bug, the other passes: {codes}\n" + \
        "\n".join(logs)
    night = out / "2025-01-31"
    report = run([sys.executable, "-m", "warmtier.campaign.report", str(night)],
                 machine_env(tmp_path / "ci-1"))
    summary = json.loads((night / "summary.json").read_text())
    assert summary["shards_seen"] == [1, 2] and summary["missing_shards"] == [], report.stdout
    assert summary["units_run"] == summary["planned_units"] == 2, report.stdout
    assert len(summary["suites"]["properties"]["new"]) == 1, report.stdout
    assert "| properties | 1 |" in report.stdout and "| crash | 1 |" in report.stdout

    # A developer with an empty local database: without the team's database nothing
    # fails; with it (read only) the shard's counterexample is replayed first and fails.
    assert dev_replay(tmp_path / "dev-alone", None).returncode == 0
    keys_before = sorted(redis_server.client().keys())  # type: ignore[attr-defined]
    dev = dev_replay(tmp_path / "dev", redis_server.url)
    assert dev.returncode == 1, dev.stdout
    assert "StoreMismatch" in dev.stdout and "replayed first" in dev.stdout, dev.stdout
    assert re.search(r"\([1-9]\d* failing\)", dev.stdout), dev.stdout
    assert sorted(redis_server.client().keys()) == keys_before, "a developer run wrote"  # type: ignore[attr-defined]

    # The record lists the replay command; `warmtier replay ID` reproduces the failure.
    listed = run([sys.executable, "-m", "warmtier", "failures", "--json",
                  f"--shared-db={redis_server.url}"], machine_env(tmp_path / "dev"))
    records = [json.loads(line) for line in listed.stdout.splitlines()]
    assert len(records) == 1, listed.stdout + listed.stderr
    record = records[0]
    assert record["test"] == DEV_TEST and record["status"] == "failing"
    assert "--warmtier-replay=" in record["replay"] and record["machine"].startswith("ci-")
    replay = run([sys.executable, "-m", "warmtier", "replay", record["id"][:6],
                  f"--shared-db={redis_server.url}"], machine_env(tmp_path / "dev"))
    assert replay.returncode == 1 and "StoreMismatch" in replay.stdout, replay.stdout


def test_killing_the_server_mid_run_loses_nothing(redis_server: RedisServer,
                                                  tmp_path: Path) -> None:
    home = tmp_path / "ci"
    argv = campaign_argv("1/1", tmp_path / "reports", f"--shared-db={redis_server.url}",
                         "--suites=properties")
    shard = subprocess.Popen(argv, cwd=REPO, env=machine_env(home), stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    assert shard.stdout is not None
    seen = []
    for line in shard.stdout:  # the server dies once the suite's pytest run is launched
        seen.append(line)
        if line.startswith("[campaign] properties:"):
            redis_server.kill()
            break
    seen.append(shard.communicate(timeout=120)[0])
    log = "".join(seen)
    assert shard.returncode == 1, log
    assert "went away" in log, log
    pending = list((home / "state" / "pending").iterdir())
    assert pending, "nothing was kept for the next run\n" + log

    redis_server.start()  # an empty server on the same port
    nothing = run([*argv, "--select=no-such-unit"], machine_env(home))
    assert "pushed" in nothing.stdout, nothing.stdout + nothing.stderr
    assert not list((home / "state" / "pending").glob("*.json*")), "writes still wait"
    client = redis_server.client()
    assert client.hlen("warmtier:failures") == 1  # type: ignore[attr-defined]
    assert client.keys("hypothesis-example:*")  # type: ignore[attr-defined]
    dev = dev_replay(tmp_path / "dev", redis_server.url)
    assert dev.returncode == 1 and re.search(r"\([1-9]\d* failing\)", dev.stdout), dev.stdout


def test_an_unreachable_server_stops_a_run_at_its_start_naming_it(tmp_path: Path) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    shard = run(campaign_argv("1/1", tmp_path / "reports", f"--shared-db={url}"),
                machine_env(tmp_path / "ci"), timeout=60)
    assert shard.returncode == 2 and url in shard.stderr and "unreachable" in shard.stderr
    dev = run([sys.executable, "-m", "pytest", DEV_TEST, f"--shared-db={url}", "-p",
               "no:cacheprovider", "-p", "no:xdist"], machine_env(tmp_path / "dev"), timeout=60)
    assert dev.returncode == 4 and url in dev.stderr, dev.stdout + dev.stderr
