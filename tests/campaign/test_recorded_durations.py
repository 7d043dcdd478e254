"""Recorded durations, without Redis: a campaign run records each unit's seconds, the
night's shards become ``durations.json``, the next plan splits by it, and a missing or
corrupt file falls back to the per-suite estimates with a warning."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.campaign.conftest import clean_env
from warmtier.campaign import report, run
from warmtier.campaign.durations import DurationsWarning, load
from warmtier.campaign.pytest_plugin import RESULTS_ENV, SUITE_ENV, UNITS_ENV
from warmtier.campaign.records import RecordStore
from warmtier.campaign.sharding import ESTIMATE, Shard, Unit, split

NIGHT = "2025-01-31"
SLEEPY = """import time
import pytest

@pytest.fixture
def nap():
    time.sleep({setup})
    yield
    time.sleep({teardown})

def test_one(nap):
    time.sleep({call})
"""


@pytest.fixture(autouse=True)
def _no_git(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The shard summary names the commit without asking git; local state stays here."""
    monkeypatch.setenv("GITHUB_SHA", "0" * 40)
    monkeypatch.setenv("WARMTIER_STATE_DIR", str(tmp_path / "state"))


def crash_repo(root: Path, names: str = "abcd") -> Path:
    """A repository root with one crash test file per letter."""
    (root / "tests" / "crash").mkdir(parents=True)
    for letter in names:
        (root / "tests" / "crash" / f"test_{letter}.py").write_text("def test_x(): pass\n")
    return root


def planned(root: Path, *argv: str, night: str = NIGHT) -> list[Unit]:
    units = run._plan_units(run._parser().parse_args(["--suites=crash", *argv]), root, night)
    assert units is not None, "expected a plan, got a usage error"
    return units


def test_a_campaign_run_records_the_seconds_of_each_planned_unit(tmp_path: Path) -> None:
    for path, (setup, call, teardown) in {"tests/properties/test_a.py": (0.1, 0.2, 0.1),
                                          "tests/regressions/test_r1.py": (0.0, 0.2, 0.0),
                                          "tests/regressions/test_r2.py": (0.0, 0.1, 0.1)}.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(SLEEPY.format(setup=setup, call=call, teardown=teardown))
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    results = tmp_path / "results.json"
    targets = ["tests/properties/test_a.py", "tests/regressions"]
    env = clean_env(**{RESULTS_ENV: str(results), SUITE_ENV: "properties",
                       UNITS_ENV: json.dumps(targets), "GITHUB_SHA": "0" * 40,
                       "WARMTIER_STATE_DIR": str(tmp_path / "state")})
    done = subprocess.run([sys.executable, "-m", "pytest", *targets, "-p", "no:cacheprovider",
                           "-p", "warmtier.campaign.pytest_plugin", "-q"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, f"expected the tiny run to pass, got {done.returncode}:\n" \
        + done.stdout + done.stderr
    seconds = json.loads(results.read_text())["unit_seconds"]
    assert sorted(seconds) == ["properties:tests/properties/test_a.py",
                               "properties:tests/regressions"], \
        f"expected the unit names plan() makes, got {sorted(seconds)}"
    a, regressions = seconds["properties:tests/properties/test_a.py"], \
        seconds["properties:tests/regressions"]
    assert 0.4 <= a < 2.0, f"expected setup + call + teardown of test_a (0.4 s), got {a}"
    assert 0.4 <= regressions < 2.0, \
        f"expected both regression files summed (0.4 s), got {regressions}"


def test_the_zoo_records_each_members_seconds_from_the_runners_rows(tmp_path: Path) -> None:
    rows = [{"name": "fast", "spec": "m:F", "status": "caught", "description": "d",
             "runs": [{"wall_seconds": 2.5}]},
            {"name": "slow", "spec": "m:S", "status": "caught", "description": "d",
             "runs": [{"wall_seconds": 30.0}, {"wall_seconds": 12.0}]},
            {"name": "bare", "spec": "m:B", "status": "caught", "description": "d"}]
    store = RecordStore(None, writable=True, root=tmp_path / "state")
    got = run.zoo_results(rows, units=3, seconds=50.0, store=store)["unit_seconds"]
    expected = {"zoo:fast": 2.5, "zoo:slow": 42.0, "zoo:bare": 5.5}
    assert got == expected, f"expected each member's suite runs summed (a row without runs: " \
        f"an even share of the rest), {expected}; got {got}"


def test_recorded_seconds_of_a_nights_shards_become_its_durations_json(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "reports"
    (out / "2025-01-30").mkdir(parents=True)
    (out / "2025-01-30" / "durations.json").write_text(json.dumps(
        {"crash:tests/crash/test_a.py": 500.0, "scale:tests/scale": 2000.0}))
    (out / NIGHT).mkdir()
    args = run._parser().parse_args([f"--out={out}"])
    suites: list[dict[str, Any]] = [
        {"crash": {"failures": [], "unit_seconds": {"crash:tests/crash/test_a.py": 61.5}},
         "zoo": {"failures": [], "unit_seconds": {"zoo:alloc_no_coalesce": 12.25}}},
        {"properties": {"failures": [],
                        "unit_seconds": {"properties:tests/regressions": 33.0}}}]
    for index, results in enumerate(suites, 1):
        for suite in results.values():
            suite.update(units=1, tests=1, seconds=1.0, counts={})
        run._write_summary(args, NIGHT, Shard(index, 2), 7, None, [], 3, "t", 0.0, results)
    shard = json.loads((out / NIGHT / "shard-1-of-2.json").read_text())
    assert shard["unit_seconds"] == {"crash:tests/crash/test_a.py": 61.5,
                                     "zoo:alloc_no_coalesce": 12.25}, \
        f"expected the shard JSON to carry its units' seconds, got {shard.get('unit_seconds')}"
    assert report.main([str(out / NIGHT)]) == 0, capsys.readouterr().out
    got = json.loads((out / NIGHT / "durations.json").read_text())
    expected = {"crash:tests/crash/test_a.py": 61.5, "properties:tests/regressions": 33.0,
                "scale:tests/scale": 2000.0, "zoo:alloc_no_coalesce": 12.25}
    assert got == expected, f"expected tonight's seconds over the night before's, " \
        f"{expected}; got {got}"


def test_a_plan_with_a_durations_file_splits_by_those_seconds(tmp_path: Path) -> None:
    root = crash_repo(tmp_path / "repo")
    estimated = split(planned(root), 2)
    assert [len(p) for p in estimated] == [2, 2], \
        f"expected equal estimates to deal two units each, got {estimated}"
    durations = tmp_path / "durations.json"
    durations.write_text(json.dumps({"crash:tests/crash/test_a.py": 90.0,
                                     "crash:tests/crash/test_b.py": 20.0,
                                     "crash:tests/crash/test_c.py": 30.0}))
    units = planned(root, f"--durations={durations}")
    seconds = {u.target.rsplit("_", 1)[1]: u.seconds for u in units}
    expected = {"a.py": 90.0, "b.py": 20.0, "c.py": 30.0, "d.py": ESTIMATE["crash"]}
    assert seconds == expected, f"expected recorded seconds, estimates for the rest, " \
        f"{expected}; got {seconds}"
    parts = [sorted(u.target[-4:-3] for u in part) for part in split(units, 2)]
    assert parts == [["d"], ["a", "b", "c"]], \
        f"expected d (600 s, estimated) alone and a+b+c (140 s) together, got {parts}"


def test_without_durations_a_shard_splits_by_the_newest_earlier_nights_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = crash_repo(tmp_path / "repo")
    out = tmp_path / "reports"
    for night, seconds in (("2025-01-29", 1.0), ("2025-01-30", 7.0), (NIGHT, 99.0)):
        (out / night).mkdir(parents=True)
        (out / night / "durations.json").write_text(
            json.dumps({"crash:tests/crash/test_a.py": seconds}))
    units = planned(root, f"--out={out}")
    got = next(u.seconds for u in units if u.target.endswith("test_a.py"))
    assert got == 7.0, f"expected the seconds of 2025-01-30 (the night before), got {got}"
    said = capsys.readouterr().out
    assert "2025-01-30/durations.json" in said, f"expected the file named, got {said!r}"


@pytest.mark.parametrize("content", [None, "{not json", "[1, 2]"],
                         ids=["missing", "not-json", "not-an-object"])
def test_a_missing_or_corrupt_durations_file_falls_back_to_estimates_with_a_warning(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None) -> None:
    root = crash_repo(tmp_path / "repo")
    durations = tmp_path / "durations.json"
    if content is not None:
        durations.write_text(content)
    units = planned(root, f"--durations={durations}")
    got = sorted({u.seconds for u in units})
    assert got == [ESTIMATE["crash"]], f"expected every unit at the estimate, got {got}"
    err = capsys.readouterr().err
    assert f"warning: durations file {durations}" in err and "estimates" in err, \
        f"expected a warning naming the file, got {err!r}"


def test_entries_that_are_not_seconds_are_dropped_with_a_warning(tmp_path: Path) -> None:
    durations = tmp_path / "durations.json"
    durations.write_text(json.dumps({"crash:a": 3, "crash:b": "slow", "crash:c": -1,
                                     "crash:d": None, "crash:e": True}))
    with pytest.warns(DurationsWarning, match="ignored 4 entries"):
        got = load(durations)
    assert got == {"crash:a": 3.0}, f"expected only the seconds kept, got {got}"


def test_a_shard_with_an_unusable_durations_file_still_runs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(crash_repo(tmp_path / "repo"))
    (tmp_path / "bad.json").write_text("{")
    code = run.main(["--suites=crash", "--select=no-such-unit", f"--out={tmp_path / 'out'}",
                     f"--durations={tmp_path / 'bad.json'}", f"--night={NIGHT}"])
    said = capsys.readouterr()
    assert code == 0, f"expected exit status 0 (nothing to run), got {code}:\n{said.err}"
    assert "warning: durations file" in said.err, f"expected a warning, got {said.err!r}"
