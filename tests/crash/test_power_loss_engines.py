"""Real engines judged by the power-loss suite through the system-call trace: SQLite (WAL,
synchronous=FULL) and LMDB (defaults) keep the promise; their unsynced variants are caught,
each with a replay line that reruns exactly the printed crash point."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import pytest

from tests.engines.unsafe import LMDBNoSync, SQLiteNoSync
from warmtier.adapters.sqlite import SQLiteStore
from warmtier.testing.crash.points import parse_replay
from warmtier.testing.crash.powerloss import PowerLossResult, PowerLossRun

lmdb_adapter = pytest.importorskip("warmtier.adapters.lmdb", reason="py-lmdb is not installed")
LMDBStore = lmdb_adapter.LMDBStore

pytestmark = [pytest.mark.own_stores,
              pytest.mark.skipif(sys.platform != "linux", reason="ptrace and seccomp are Linux's")]

SAFE = [SQLiteStore, LMDBStore]
UNSAFE = [SQLiteNoSync, LMDBNoSync]
#: Workloads of the CI gate per safe engine, and the images each must check at least.
QUICK_SEEDS, QUICK_IMAGES = (1, 2), 1000


def _spec(cls: type[Any]) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _run(cls: type[Any], workdir: str, seed: int, record: Callable[[str, float], None],
         planted: bool = False, **options: Any) -> PowerLossResult:
    result = PowerLossRun(cls, _spec(cls), workdir, seed, **options).run()
    record("power-loss crash points", result.crash_points)
    record("power-loss images", result.images)
    record("distinct images opened", result.distinct_images)
    record("power-loss seconds", result.seconds)
    # a planted bug's expected catches are not violations of the run's promises
    record("planted bugs caught" if planted else "power-loss violations", len(result.failures))
    print(f"{cls.__name__} seed {seed}: {result.crash_points} crash points, {result.images} "
          f"images ({result.images_per_second:.0f}/s), {len(result.failures)} violation(s)")
    return result


def _clean(results: list[PowerLossResult]) -> None:
    failures = [f for r in results for f in r.failures]
    assert not failures, f"{len(failures)} violation(s); the first:\n\n{failures[0]}"


@pytest.mark.parametrize("cls", SAFE, ids=lambda c: c.__name__)
def test_a_safe_engine_keeps_the_power_loss_promise_on_every_image(
        cls: type[Any], crash_workdir: str, record: Callable[[str, float], None]) -> None:
    results = [_run(cls, crash_workdir, seed, record, ops=40) for seed in QUICK_SEEDS]
    _clean(results)
    images = sum(r.images for r in results)
    assert images >= QUICK_IMAGES, f"only {images} images checked"


@pytest.mark.parametrize("cls", UNSAFE, ids=lambda c: c.__name__)
def test_an_engine_without_syncs_is_caught_with_a_replay_that_reruns_the_crash_point(
        cls: type[Any], crash_workdir: str, record: Callable[[str, float], None]) -> None:
    caught = _run(cls, crash_workdir, 1, record, planted=True, ops=40, max_failures=1)
    assert caught.failures, f"{cls.__name__} lost synced data on no image"
    report = caught.failures[0]
    assert "last observed syncs:" in report and "image '" in report, report
    line = report.splitlines()[-1]
    assert line.startswith("replay: nox -s crash -- --replay 1:pl:"), report
    seed, point = parse_replay(line.split("--replay ")[1].split()[0])
    assert point.ops == 40, f"expected the replay to name the run's 40 operations: {line}"
    again = PowerLossRun(cls, _spec(cls), crash_workdir, seed, ops=point.ops,
                         only=point.number).run()
    assert again.crash_points == 1 and again.failures, f"the replay found nothing:\n{report}"
    assert again.failures[0].splitlines()[0] == report.splitlines()[0], again.failures[0]


@pytest.mark.slow
@pytest.mark.parametrize("cls", SAFE, ids=lambda c: c.__name__)
def test_a_safe_engine_keeps_the_power_loss_promise_over_many_workloads(
        cls: type[Any], crash_workdir: str, crash_rounds: int, announced_seed: int,
        record: Callable[[str, float], None]) -> None:
    base = announced_seed % (1 << 30)
    _clean([_run(cls, crash_workdir, base + n, record, ops=80, random_images=6)
            for n in range(max(2, crash_rounds // 100))])
