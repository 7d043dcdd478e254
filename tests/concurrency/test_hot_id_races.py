"""Hot-id races: drawn programs over every call of the contract on two ids, running free
and under the scheduler; what stores without failpoints get wrong.

A store whose ``remove`` checks then deletes, whose ``put`` other threads see late, or
whose search index is updated outside its lock has no failpoint for the scheduler to
stop at: only threads released together and running free reach the window inside one
call. Each round draws three scripts of eight calls (put, remove, compact, flush, get,
``in``, len, ids, search, scan) on ``'a'`` and ``'b'``; the history must be linearizable
(searches judged as the top-k of some state between call and return), every scan weakly
consistent, and ``check()`` must pass. ``--warmtier-race-seed=N`` fixes the programs.
"""

from __future__ import annotations

import importlib
import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.concurrency.check_then_act_stores import (
    CheckThenActRemove,
    DeferredCommitPut,
    StaleSearchStore,
)
from warmtier.testing.concurrency.hunt import HOT_ROUNDS, HOT_SEEDS, hunt_hot
from warmtier.testing.concurrency.program import DIM
from warmtier.testing.concurrency.pytest_plugin import ReplayHint


def hint(replay: ReplayHint, seed: int) -> str:
    return f"{replay.command()} --warmtier-race-seed={seed}"


def assert_not_caught(make: Callable[[], Any], seed: int, replay: ReplayHint,
                      timeout: float, rounds: int = HOT_ROUNDS, schedules: int = HOT_SEEDS) -> None:
    catch = hunt_hot(make, seed, rounds, schedules, timeout)
    assert catch is None, (
        f"expected every hot-id round to be linearizable with weakly consistent scans; "
        f"{catch.summary()}, program seed {catch.seed}:\n{catch.detail}\n"
        f"(free rounds do not replay exactly; the same programs: {hint(replay, seed)})"
    )


def test_hot_id_races_of_every_call_are_linearizable(
    make_store: Callable[..., Any], race_seed: int, replay: ReplayHint, race_timeout: float
) -> None:
    assert_not_caught(lambda: make_store(dim=DIM), race_seed, replay, race_timeout)


@pytest.mark.slow
def test_hot_id_races_of_every_call_are_linearizable_over_many_rounds(
    make_store: Callable[..., Any], race_seed: int, replay: ReplayHint, race_timeout: float
) -> None:
    assert_not_caught(lambda: make_store(dim=DIM), race_seed, replay, race_timeout,
                      rounds=5000, schedules=200)


# -- the races these workloads exist for stay caught -----------------------------------


def factory(cls: type[Any], root: Path) -> Callable[[], Any]:
    root.mkdir(parents=True, exist_ok=True)
    counter = itertools.count()
    return lambda: cls.create(f"{root}/s{next(counter)}", dim=DIM)


def assert_caught(cls: type[Any], root: Path, seed: int, what: str) -> None:
    catch = hunt_hot(factory(cls, root), seed)
    assert catch is not None, (
        f"{cls.__name__} ({what}) passed {HOT_ROUNDS} free rounds and {HOT_SEEDS} "
        f"schedules of hot-id races (program seeds from {seed}); expected a failure: "
        f"its race is no longer reached. Replay: --warmtier-race-seed={seed}"
    )
    print(f"{cls.__name__}: {catch.summary()}\n{catch.detail[:600]}")


@pytest.mark.own_stores
def test_check_then_act_remove_is_caught_without_failpoints(tmp_path: Path, race_seed: int) -> None:
    assert_caught(CheckThenActRemove, tmp_path, race_seed, "two removes of one id both return True")


@pytest.mark.own_stores
def test_put_seen_late_by_other_threads_is_caught(tmp_path: Path, race_seed: int) -> None:
    assert_caught(DeferredCommitPut, tmp_path, race_seed, "put returns before others can read it")


@pytest.mark.own_stores
def test_search_over_a_half_updated_index_is_caught(tmp_path: Path, race_seed: int) -> None:
    assert_caught(StaleSearchStore, tmp_path, race_seed, "search index updated outside the lock")


@pytest.mark.own_stores
def test_sqlite_check_then_act_remove_is_caught(tmp_path: Path, race_seed: int) -> None:
    try:
        unsafe = importlib.import_module("tests.engines.unsafe")
    except ImportError as exc:
        pytest.skip(f"tests.engines.unsafe is not importable: {exc}")
    assert_caught(unsafe.SQLiteCheckThenActRemove, tmp_path, race_seed,
                  "SELECT then DELETE on a connection per thread")
