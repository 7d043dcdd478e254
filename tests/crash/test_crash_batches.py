"""Batch calls in the crash suite (docs/contract-extensions.md, "Batch calls"): drawn for a
store that declares them and never for one that does not; a kill between a batch's records
must leave every completed operation and a prefix of the batch. A batch that applies a
later record before an earlier one is caught with a replay line that reproduces it; LMDB's
one-transaction batches (none or all of a batch) keep the promise."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

import warmtier
from tests.crash.batch_stores import (
    BatchesUndeclared,
    PutManyLastRecordFirst,
    PutManyOnly,
    RemoveManyBackwards,
)
from warmtier.adapters.sqlite import SQLiteStore
from warmtier.model import ModelStore
from warmtier.testing.crash.faults import inject_exception
from warmtier.testing.crash.kills import (
    ROUND_OPS,
    KillHarness,
    RoundResult,
    batch_points,
    census,
    failure_summary,
    replay_command,
    systematic_points,
)
from warmtier.testing.crash.points import KillPoint, parse_replay
from warmtier.testing.crash.powerloss import PowerLossRun
from warmtier.testing.crash.workload import BATCH_KINDS, Batch, batch_kinds, operations

pytestmark = pytest.mark.own_stores

SEED = 1
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _spec(cls: type[Any]) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _batches(declared: tuple[str, ...], seeds: range = range(1, 4)) -> list[Batch]:
    return [op for seed in seeds for op in operations(seed, ROUND_OPS, declared)
            if isinstance(op, Batch)]


def _in_flight(result: RoundResult, store_class: type[Any]) -> Any:
    """The operation a round was killed in (None between operations)."""
    p = result.progress
    steps = list(operations(result.seed, p.started, batch_kinds(store_class)))
    return None if p.in_flight is None else steps[p.in_flight]


def _rounds(cls: type[Any], points: list[KillPoint], workdir: str,
            record: Callable[[str, float], None]) -> list[RoundResult]:
    with KillHarness(_spec(cls), workdir) as harness:
        results = [harness.round(SEED, point) for point in points]
    record("kill rounds", len(results))
    record("kills", sum(r.killed for r in results))
    return results


# -- what is drawn ---------------------------------------------------------------------


def test_the_workload_draws_each_declared_batch_call_with_duplicates_and_absent_ids() -> None:
    for declared in [("put_many",), ("remove_many", "get_many"), BATCH_KINDS]:
        drawn = {b.kind for b in _batches(declared)}
        assert drawn == set(declared), f"declared {declared}, drawn {sorted(drawn)}"
    batches = _batches(BATCH_KINDS)
    puts = [b for b in batches if b.kind == "put_many"]
    assert max(len(b.parts) for b in puts) >= 5, "no put_many of five records or more"
    assert any(len({op.id for op in b.parts}) < len(b.parts) for b in puts), \
        "no put_many with a duplicate id (a later one must win)"
    assert any(len(b.parts) >= 3 for b in batches if b.kind == "remove_many")


@pytest.mark.parametrize("cls", [BatchesUndeclared, PutManyOnly, SQLiteStore, ModelStore],
                         ids=lambda c: c.__name__)
def test_a_store_is_never_sent_a_batch_call_it_does_not_declare(cls: type[Any]) -> None:
    declared = set(getattr(cls, "batch_calls", None) or ())
    sent = {b.kind for b in _batches(batch_kinds(cls), range(50))}
    assert sent <= declared, f"{cls.__name__} declares {sorted(declared)}, was sent {sorted(sent)}"


@pytest.mark.parametrize("cls", [BatchesUndeclared, PutManyOnly], ids=lambda c: c.__name__)
def test_kills_faults_and_power_loss_leave_undeclared_batch_methods_uncalled(
        cls: type[Any], crash_workdir: str, record: Callable[[str, float], None]) -> None:
    census(cls, SEED, workdir=crash_workdir)  # in-process: an undeclared call raises here
    results = _rounds(cls, [KillPoint.parse("op:100"), KillPoint("end")], crash_workdir, record)
    assert failure_summary(results) is None, failure_summary(results)
    fault = inject_exception(cls, SEED, KillPoint("fp", "put.after_publish", "put", 3))
    assert fault.fired and not fault.problems, fault.problems
    power = PowerLossRun(cls, _spec(cls), crash_workdir, SEED, ops=20, random_images=1).run()
    assert power.crash_points and not power.failures, power.failures[:1]


# -- kills between the records of a batch --------------------------------------------


PLANTED = [(PutManyLastRecordFirst, "put_many"), (RemoveManyBackwards, "remove_many")]


@pytest.mark.parametrize(("cls", "kind"), PLANTED, ids=lambda c: getattr(c, "__name__", c))
def test_a_batch_that_applies_a_later_record_before_an_earlier_one_is_caught_with_a_replay(
        cls: type[Any], kind: str, crash_workdir: str,
        record: Callable[[str, float], None]) -> None:
    hits, _ = census(cls, SEED, workdir=crash_workdir)
    points = [p for p in systematic_points(hits, nth=False) if p.op_kind == kind]
    caught = [r for r in _rounds(cls, points, crash_workdir, record) if r.problems]
    assert caught, (f"expected a failed round among the kills inside a {kind} of "
                    f"{cls.__name__}; actual: all {len(points)} passed "
                    f"({[str(p) for p in points]}); replay the first: "
                    f"{replay_command(SEED, points[0], _spec(cls)) if points else '-'}")
    record("planted bugs caught", 1)
    first = caught[0]
    report = first.report()
    assert f"a prefix of the {len(_in_flight(first, cls).parts)} records of the in-flight" \
        in report, report
    replay = f"replay: {replay_command(SEED, first.point, _spec(cls))}"
    assert report.splitlines()[-1] == replay, f"expected the last line {replay!r}:\n{report}"
    seed, point = parse_replay(shlex.split(replay)[6])
    again = _rounds(cls, [point], crash_workdir, record)[0]
    assert (seed, again.report()) == (SEED, report), f"the replay differs:\n{again.report()}"


def test_the_printed_replay_line_of_a_kill_inside_a_batch_reruns_the_failure_alone() -> None:
    batch = next(b for b in _batches(BATCH_KINDS, range(SEED, SEED + 1)) if b.kind == "put_many")
    assert len({op.id for op in batch.parts}) >= 2, f"{batch}: too few ids to reorder"
    line = replay_command(SEED, KillPoint("fp", "put.after_publish", "put_many", 1),
                          _spec(PutManyLastRecordFirst))
    words = shlex.split(line)
    assert words[:4] == ["nox", "-s", "crash", "--"], line
    src = os.path.dirname(os.path.dirname(os.path.abspath(warmtier.__file__)))
    path = [src, REPO, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
    done = subprocess.run([sys.executable, "-m", "pytest", "tests/crash", "-p", "no:cacheprovider",
                           *words[4:]], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)
    out = done.stdout + done.stderr
    assert done.returncode == 1, f"expected the replay to fail (exit 1), got {done.returncode}:\n{out}"
    assert "1 failed" in out and f"in flight: {batch}" in out, out
    assert f"a prefix of the {len(batch.parts)} records of the in-flight #{batch.index}" in out, out


def _lmdb() -> Any:
    return pytest.importorskip("warmtier.adapters.lmdb", reason="py-lmdb is not installed")


def test_lmdb_batches_killed_inside_their_one_transaction_keep_the_kill_promise(
        crash_workdir: str, record: Callable[[str, float], None]) -> None:
    _lmdb()
    from tests.crash.batch_stores import LMDBWithFailpoints

    points = batch_points(LMDBWithFailpoints, SEED, workdir=crash_workdir)
    assert {p.op_kind for p in points} == {"put_many", "remove_many"}, [str(p) for p in points]
    results = _rounds(LMDBWithFailpoints, points, crash_workdir, record)
    assert all(isinstance(_in_flight(r, LMDBWithFailpoints), Batch) for r in results), \
        [r.where() for r in results]
    assert failure_summary(results) is None, failure_summary(results)


def test_the_lmdb_adapter_killed_around_its_batches_keeps_every_completed_batch_whole(
        crash_workdir: str, record: Callable[[str, float], None]) -> None:
    cls = _lmdb().LMDBStore
    batches = [b for b in _batches(batch_kinds(cls), range(SEED, SEED + 1)) if b.parts][:4]
    points = [KillPoint("op", number=b.index + after) for b in batches for after in (0, 1)]
    results = _rounds(cls, points, crash_workdir, record)
    assert all(r.reached for r in results), [r.where() for r in results if not r.reached]
    assert failure_summary(results) is None, failure_summary(results)
    power = PowerLossRun(cls, _spec(cls), crash_workdir, SEED, ops=40)
    assert {op.kind for op in power.ops} >= {"put_many", "remove_many"}, \
        "expected batches in the LMDB power-loss workload (test_power_loss_engines); none drawn"
