"""The suites demand only what the contract promises (or what a store declares): each store
of ``lenient_stores`` differs from the model in one way the contract allows, and the
suite piece that once raised a false alarm on it (issue 13) must now pass; the broken
stores there must still be caught.

The store machine runs in process under fixed settings; unit, regression and race tests
run in a pytest subprocess with ``--warmtier-store``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, settings

from tests.any_store import lenient_stores as L
from warmtier.records import Record, StoreStats
from warmtier.testing import compare
from warmtier.testing.compare import StoreMismatch
from warmtier.testing.properties.machines import run_machine, store_machine

ROOT = Path(__file__).resolve().parents[2]


pytestmark = pytest.mark.own_stores  # they pick their own stores

#: A short deterministic search: enough steps for every rule (churn puts -0.0 and 0.5
#: confidences, compact, abandon and reopen), no shrinking (a catch is reported as found).
MACHINE_SETTINGS = settings(
    max_examples=40, stateful_step_count=30, database=None, deadline=None, derandomize=True,
    suppress_health_check=list(HealthCheck), phases=(Phase.explicit, Phase.generate),
)


#: A broken store gets a bigger budget: the run stops at the first failure, so a caught
#: bug costs no more, and a bug the first 40 examples happen to miss is still found (one
#: such miss was seen in a gate run with -n 2, never alone; noted, not yet explained).
HUNT_SETTINGS = settings(MACHINE_SETTINGS, max_examples=200)


def run_store_machine(cls: type[Any], budget: settings = MACHINE_SETTINGS) -> None:
    run_machine(store_machine(cls, dim=4), settings=budget)


def machine_failures(cls: type[Any]) -> str:
    """The store machine's failure messages for ``cls``; fails the test if it passes."""
    try:
        run_store_machine(cls, HUNT_SETTINGS)
    except BaseException as exc:  # an exception group, or one failure
        found = list(getattr(exc, "exceptions", [exc]))
        assert all(isinstance(e, StoreMismatch) for e in found), found
        return "\n".join(str(e) for e in found)
    pytest.fail(f"the store machine passed {cls.__name__}, which breaks the contract")


def run_suite(store: type[Any], *targets: str, tmp_path: Path) -> str:
    """Run pytest on ``targets`` against ``store``; fail unless nothing failed or erred."""
    spec = f"{store.__module__}:{store.__qualname__}"
    env = {**os.environ, "WARMTIER_HYPOTHESIS_DB": str(tmp_path / "examples")}
    cmd = [sys.executable, "-m", "pytest", *targets, "-x", "-q", "-p", "no:cacheprovider",
           "-p", "no:xdist", "-m", "not slow", "--hypothesis-profile=ci",
           f"--warmtier-store={spec}"]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    tail = "\n".join(done.stdout.splitlines()[-40:])
    assert done.returncode == 0, (
        f"against {spec}, expected no failures and no errors\n  actual: exit "
        f"{done.returncode}\n{tail}\n{done.stderr[-2000:]}\n  replay: {' '.join(cmd)}")
    return done.stdout


# -- stats().fragmentation: the store's own definition ----------------------------------


def test_store_machine_accepts_another_fragmentation_figure() -> None:
    run_store_machine(L.OtherFragmentationStore)


def test_store_machine_catches_a_fragmentation_above_one() -> None:
    assert "fragmentation must be a float from 0.0 to 1.0" in machine_failures(
        L.FragmentationAboveOneStore)


def test_compaction_tests_accept_another_fragmentation_figure(tmp_path: Path) -> None:
    run_suite(L.OtherFragmentationStore,
              "tests/unit/test_store_lifecycle.py::test_compaction_keeps_records_and_drops_fragmentation",
              "tests/properties/test_targeted.py::test_compaction_leaves_almost_no_fragmentation",
              tmp_path=tmp_path)


@pytest.mark.parametrize(("field", "value", "complaint"), [
    ("fragmentation", 1.5, "fragmentation must be a float from 0.0 to 1.0"),
    ("fragmentation", -0.25, "fragmentation must be a float from 0.0 to 1.0"),
    ("fragmentation", "0.1", "fragmentation must be a float from 0.0 to 1.0"),
    ("records", -1, "records must be a non-negative int"),
    ("capacity", 2.0, "capacity must be a non-negative int"),
    ("content_live_bytes", True, "content_live_bytes must be a non-negative int"),
])
def test_stats_of_any_store_still_need_the_contract_fields_and_types(
    field: str, value: Any, complaint: str
) -> None:
    fields = {"records": 0, "capacity": 0, "content_live_bytes": 0,
              "content_allocated_bytes": 0, "fragmentation": 0.25, field: value}
    with pytest.raises(StoreMismatch, match=complaint):
        compare.assert_stats_match(L.PlainStats(**fields), {}, reference=False)


def test_stats_without_a_contract_field_are_caught() -> None:
    four = SimpleNamespace(records=0, capacity=0, content_live_bytes=0,
                           content_allocated_bytes=0)
    with pytest.raises(StoreMismatch, match="lacks the field 'fragmentation'"):
        compare.assert_stats_match(four, {}, reference=False)


def test_the_reference_store_is_still_held_to_its_fragmentation_formula() -> None:
    stats = StoreStats(records=0, capacity=4, content_live_bytes=0, content_allocated_bytes=0,
                       fragmentation=0.25)
    compare.assert_stats_match(stats, {}, reference=False)
    with pytest.raises(StoreMismatch, match="reference store's definition"):
        compare.assert_stats_match(stats, {}, reference=True)


# -- confidence: compared as a float32 value (-0.0 == 0.0) ------------------------------


def test_store_machine_accepts_zero_for_negative_zero_confidence() -> None:
    run_store_machine(L.NegativeZeroConfidenceStore)


def test_store_machine_catches_a_wrong_confidence() -> None:
    assert "wrong confidence" in machine_failures(L.WrongConfidenceStore)


def test_a_record_matches_with_zero_for_a_negative_zero_confidence_but_not_a_zero_embedding(
) -> None:
    put = Record("a", np.array([-0.0, 1.0], np.float32), b"x", -0.0)
    compare.assert_record_matches(Record("a", put.embedding, b"x", 0.0), put, what="get")
    flat = Record("a", np.array([0.0, 1.0], np.float32), b"x", -0.0)
    with pytest.raises(StoreMismatch, match="bit for bit"):
        compare.assert_record_matches(flat, put, what="get")
    with pytest.raises(StoreMismatch, match="wrong confidence"):
        compare.assert_record_matches(Record("a", put.embedding, b"x", 0.5),
                                      Record("a", put.embedding, b"x", 0.25), what="get")


def test_a_confidence_must_still_be_the_float32_value_put() -> None:
    put = Record("a", np.ones(2, np.float32), b"x", 0.1)  # Record keeps 0.1 as given
    stored = float(np.float32(0.1))
    compare.assert_record_matches(Record("a", put.embedding, b"x", stored), put, what="get")
    with pytest.raises(StoreMismatch, match="wrong confidence"):
        compare.assert_record_matches(put, Record("a", put.embedding, b"x", stored),
                                      what="get (unrounded float64 returned)")


# -- create(path, dim) with no options -----------------------------------------------


def test_store_machine_accepts_a_create_that_takes_no_options() -> None:
    run_store_machine(L.PlainCreateStore)


def test_unit_and_regression_tests_pass_for_a_create_that_takes_no_options(
    tmp_path: Path,
) -> None:
    out = run_suite(L.PlainCreateStore, "tests/unit/test_bad_input.py",
                    "tests/unit/test_store_lifecycle.py", "tests/regressions",
                    "-rs", tmp_path=tmp_path)
    skipped = [(int(m.group(1)), line) for line in out.splitlines()
               if "max_content" in line and (m := re.match(r"SKIPPED \[(\d+)\]", line))]
    assert sum(n for n, _ in skipped) == 1, (
        "expected exactly one test skipped for want of max_content (the test of the limit "
        f"itself), saying why; got {skipped}")
    assert "the program creates the store with" not in out, "a pasted program was skipped"


# -- compaction by the store's own measure; stats without the reference's extras --------


def test_store_machine_accepts_compaction_growth_and_stats_without_extras() -> None:
    run_store_machine(L.NoStatsExtrasStore)


def test_store_machine_catches_a_compaction_that_changes_records() -> None:
    assert machine_failures(L.CompactionChangesRecordsStore)


def test_compaction_of_any_store_still_needs_int_fields() -> None:
    compare.assert_compaction_consistent(L.PlainCompaction(10, 74, -64), None, reference=False)
    with pytest.raises(StoreMismatch, match="bytes_reclaimed must be an int"):
        compare.assert_compaction_consistent(L.PlainCompaction(10, 10, "0"),  # type: ignore[arg-type]
                                             None, reference=False)
    with pytest.raises(StoreMismatch, match="lacks 'bytes_after'"):
        compare.assert_compaction_consistent(SimpleNamespace(bytes_before=1), None,
                                             reference=False)
    with pytest.raises(StoreMismatch, match="bytes_after <= bytes_before"):
        compare.assert_compaction_consistent(L.PlainCompaction(10, 74, -64), None,
                                             reference=True)


def test_compaction_and_barrier_race_tests_pass_for_a_store_without_stats_extras(
    tmp_path: Path,
) -> None:
    run_suite(L.NoStatsExtrasStore, "tests/concurrency/test_barrier_races.py",
              "tests/unit/test_store_lifecycle.py::test_compaction_keeps_records_and_drops_fragmentation",
              "tests/properties/test_targeted.py::test_compaction_leaves_almost_no_fragmentation",
              tmp_path=tmp_path)


# -- a store that promises only a prefix after an abandoned object ------------------------


def test_store_machine_accepts_losing_what_an_abandoned_store_never_flushed() -> None:
    run_store_machine(L.LosesUnflushedStore)


def test_lifecycle_tests_accept_losing_what_an_abandoned_store_never_flushed(
    tmp_path: Path,
) -> None:
    run_suite(L.LosesUnflushedStore,
              "tests/unit/test_store_lifecycle.py::test_abandoned_store_reopens_with_every_completed_write",
              tmp_path=tmp_path)
