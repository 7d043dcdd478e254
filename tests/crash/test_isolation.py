"""A store that dies by a signal (SIGBUS, SIGABRT, SIGSEGV) or hangs in the crash suite is a
test failure naming the signal, the kept input and the replay command; the pytest run goes
on, and the dead child's scratch directory is removed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.crash import hostile_stores
from warmtier.store import WarmTierStore
from warmtier.testing.crash.faults import full_disk_problems, inject_exception
from warmtier.testing.crash.fuzz import base_images, open_outcome
from warmtier.testing.crash.isolate import KEEP_ENV, Isolated, run_isolated
from warmtier.testing.crash.kills import KillHarness
from warmtier.testing.crash.points import KillPoint
from warmtier.testing.crash.powerloss import PowerLossRun

pytestmark = pytest.mark.own_stores

HOSTILE = [("SIGBUS", hostile_stores.BusErrorOnOpen), ("SIGABRT", hostile_stores.AbortOnOpen),
           ("SIGSEGV", hostile_stores.SegfaultOnOpen)]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where this test's killing inputs are kept."""
    where = tmp_path / "kept"
    monkeypatch.setenv(KEEP_ENV, str(where))
    return where


def _kept_dirs(kept: Path) -> list[Path]:
    return sorted(kept.iterdir()) if kept.exists() else []


@pytest.mark.parametrize(("name", "cls"), HOSTILE, ids=[n for n, _ in HOSTILE])
def test_a_store_killed_by_a_signal_on_fuzzed_files_is_a_failure_naming_it_the_kept_files_and_the_replay(
        name: str, cls: type[Any], kept: Path, crash_workdir: str) -> None:
    files = base_images(WarmTierStore, crash_workdir)["closed"]
    problems = open_outcome(cls, files, replay="REPLAY-COMMAND")
    text = "\n".join(problems)
    assert f"killed by {name}" in text and "replay: REPLAY-COMMAND" in text, text
    (where,) = _kept_dirs(kept)
    assert str(where) in text, text
    assert {p.name: p.read_bytes() for p in where.iterdir()} == files


def test_a_store_that_aborts_on_power_loss_images_fails_the_crash_point_with_the_signal_and_a_replay(
        kept: Path, crash_workdir: str) -> None:
    spec = "tests.crash.hostile_stores:AbortOnOpen"
    result = PowerLossRun(hostile_stores.AbortOnOpen, spec, crash_workdir, 1, ops=8,
                          max_failures=1).run()
    assert result.failures, "the run reported no failure"
    report = result.failures[0]
    assert "killed by SIGABRT" in report and "--replay 1:pl:" in report, report
    assert "input kept for inspection in" in report and _kept_dirs(kept), report


def test_a_store_that_dies_recovering_from_a_kill_is_a_failed_round_naming_the_signal(
        kept: Path, crash_workdir: str) -> None:
    spec = "tests.crash.hostile_stores:AbortOnOpen"
    with KillHarness(spec, crash_workdir) as harness:
        result = harness.round(3, KillPoint("op", number=20))
    text = result.report()
    assert any("killed by SIGABRT" in p for p in result.problems), text
    assert any("input kept for inspection in" in p for p in result.problems), text
    assert _kept_dirs(kept), "the killed store's files were not kept"


def test_a_store_killed_while_recovering_from_an_injected_fault_is_a_failure_not_the_end(
        kept: Path) -> None:
    point = KillPoint("fp", "put.before_publish", "put", 1)
    outcome = inject_exception(hostile_stores.SegfaultOnOpen, 1, point, replay="REPLAY")
    assert outcome.problems and "killed by SIGSEGV" in outcome.problems[0], outcome.problems
    assert "replay: REPLAY" in outcome.problems[0]


def _create_then_die(directory: str) -> None:
    with open(os.path.join(directory, "half-written"), "wb") as f:
        f.write(b"x" * 4096)
    os.kill(os.getpid(), signal.SIGBUS)


def _raise() -> None:
    raise KeyError("from the child")


def test_after_a_child_dies_by_a_signal_its_scratch_directory_is_emptied_and_then_removed(
        kept: Path) -> None:
    with Isolated() as worker:
        outcome = worker.call(_create_then_die, worker.workdir)
        assert (outcome.kind, outcome.signal) == ("signal", "SIGBUS")
        assert os.listdir(worker.workdir) == []
        assert worker.call(pow, 3, 2).value == 9, "the next call did not start a new child"
    assert not os.path.exists(worker.workdir)


def _hang(marker: str) -> None:
    with open(marker, "w"):
        pass
    time.sleep(3600)


def test_a_hung_call_is_killed_and_reported_as_a_hang_with_the_childs_stack(
        tmp_path: Path) -> None:
    marker = str(tmp_path / "hanging")
    with Isolated() as worker:
        assert worker.call(os.getpid).ok, "the child must be up before the hang is timed"
        outcome = worker.call(_hang, marker, timeout=3)
    assert outcome.kind == "timeout", outcome.describe()
    assert os.path.exists(marker), "the call never started in the child"
    assert "_hang" in outcome.stack and "hung" in outcome.report("sleeping"), outcome.stack


def test_an_exception_in_the_child_comes_back_with_its_type_and_traceback() -> None:
    outcome = run_isolated(_raise)
    assert outcome.kind == "raised" and outcome.error.startswith("KeyError")
    assert "_raise" in outcome.traceback


# -- a real full disk --------------------------------------------------------------------


@pytest.fixture
def tiny_disk(crash_workdir: str) -> Iterator[str]:
    """A 1 MiB tmpfs (skips where mounting is not permitted)."""
    where = os.path.join(crash_workdir, "disk")
    os.mkdir(where)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", where],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({done.stderr.strip() or done.returncode})")
    try:
        yield where
    finally:
        subprocess.run(["umount", where], capture_output=True, check=False)


@pytest.mark.skipif(not hasattr(hostile_stores, "LMDBWritemap"), reason="py-lmdb missing")
def test_lmdb_writing_through_a_map_on_a_full_disk_is_reported_as_killed_by_sigbus(
        tiny_disk: str, kept: Path) -> None:
    store = os.path.join(tiny_disk, "store")
    outcome = run_isolated(full_disk_problems, tiny_disk, hostile_stores.LMDBWritemap,
                           keep=store, timeout=60)
    assert (outcome.kind, outcome.signal) == ("signal", "SIGBUS"), outcome
    assert outcome.kept and os.path.isdir(os.path.join(outcome.kept, "store"))
    assert "killed by SIGBUS" in outcome.report("filling the disk")


# -- the whole run goes on -----------------------------------------------------------------


@pytest.mark.slow
def test_a_pytest_run_against_a_store_that_aborts_on_open_ends_with_a_summary_and_replay_lines(
        tmp_path: Path) -> None:
    env = {**os.environ, KEEP_ENV: str(tmp_path / "kept")}
    env.pop("PYTEST_XDIST_WORKER", None)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/crash/test_crash_file_fuzz.py",
         "tests/crash/test_crash_power_loss.py", "-m", "not slow", "-p", "no:cacheprovider",
         "-p", "no:xdist", "-q", "--crash-seed=7",
         "--warmtier-store=tests.crash.hostile_stores:AbortOnOpen"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    out = done.stdout + done.stderr
    assert done.returncode == 1, out[-3000:]
    assert "failed" in out.splitlines()[-1] and "passed" in out.splitlines()[-1], out[-3000:]
    assert out.count("killed by SIGABRT") >= 3 and "replay:" in out, out[-3000:]
    assert "crash seed 7" in out, out[-3000:]
