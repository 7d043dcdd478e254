"""The measurement toolkit itself (warmtier.perf): its statistics agree with scipy, its
fallbacks are accurate without it, its workloads are deterministic, and its run history
picks the right baseline. Fast; part of the CI gate."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from warmtier.perf import stats
from warmtier.perf.history import PartWriter, merge_parts, pick_baseline, save_run
from warmtier.perf.measure import Latencies
from warmtier.perf.result import ScenarioResult
from warmtier.perf.workload import FRAGMENTATION_MIX, TEXT_MIX, Workload, fingerprints


def test_mann_whitney_fallback_agrees_with_scipy_to_a_few_percent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scipy_stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, 300), rng.normal(0.2, 1, 400)
    want = float(scipy_stats.mannwhitneyu(a, b, alternative="two-sided").pvalue)
    import builtins

    real_import = builtins.__import__

    def no_scipy(name: str, *args: object, **kwargs: object) -> object:
        if name.startswith("scipy"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", no_scipy)
    got = stats.mann_whitney_p(a, b)
    assert got == pytest.approx(want, rel=0.05), f"expected p={want:.4g} (scipy); got {got:.4g}"


def test_t_quantile_fallback_is_within_two_tenths_of_a_percent_from_three_degrees() -> None:
    # Reference values of Student's t 0.975 quantile.
    table = {3: 3.182446, 5: 2.570582, 8: 2.306004, 20: 2.085963, 100: 1.983972}
    for df, want in table.items():
        got = stats.t_quantile_approx(0.975, df)
        assert got == pytest.approx(want, rel=2e-3), f"t(0.975, {df}): expected {want}; got {got}"


def test_linear_fit_slope_and_interval_match_scipy_linregress() -> None:
    scipy_stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(1)
    x = np.arange(10.0)
    y = 100 + 0.5 * x + rng.normal(0, 0.3, 10)
    fit = stats.linear_fit(x, y)
    ref = scipy_stats.linregress(x, y)
    half = scipy_stats.t.ppf(0.975, 8) * ref.stderr
    assert fit.slope == pytest.approx(ref.slope), f"slope {fit.slope} != scipy {ref.slope}"
    assert fit.ci_low == pytest.approx(ref.slope - half)
    assert fit.ci_high == pytest.approx(ref.slope + half)


def test_cliffs_delta_counts_ties_as_half_and_spans_minus_one_to_one() -> None:
    assert stats.cliffs_delta([1, 2, 3], [1, 2, 3]) == 0.0
    assert stats.cliffs_delta([5, 6], [1, 2]) == 1.0
    brute = np.mean([np.sign(a - b) for a in [1, 2, 2, 5] for b in [2, 3]])
    assert stats.cliffs_delta([1, 2, 2, 5], [2, 3]) == pytest.approx(brute)


def test_compare_reports_a_regression_only_when_significant_and_large() -> None:
    rng = np.random.default_rng(2)
    base = rng.normal(10, 1, 500)
    slower = stats.compare_samples("put_us", base, rng.normal(13, 1, 500), "lower")
    tiny = stats.compare_samples("put_us", base, rng.normal(10.05, 1, 500), "lower")
    faster = stats.compare_samples("rate", base, rng.normal(13, 1, 500), "higher")
    assert slower.verdict == "regression", slower.describe()
    assert tiny.verdict == "same", tiny.describe()
    assert faster.verdict == "improvement", faster.describe()


def test_trend_break_flags_the_scale_where_a_flat_cost_jumps_and_nothing_else() -> None:
    scales = [1_000, 10_000, 50_000, 100_000, 200_000, 1_000_000]
    flat = [20.0, 19.0, 21.0, 20.0, 22.0, 21.0]
    jump = [20.0, 19.0, 21.0, 20.0, 90.0, 95.0]
    linear_scan = [0.001, 0.01, 0.05, 0.1, 0.2, 1.0]
    assert stats.find_trend_breaks("put_us", scales, flat, "lower") == []
    assert stats.find_trend_breaks("scan_s", scales, linear_scan, "lower") == []
    assert [b.scale for b in stats.find_trend_breaks("put_us", scales, jump, "lower")][:1] == [
        200_000
    ]


def test_workload_regenerates_identical_records_and_follows_its_size_mix() -> None:
    a, b = Workload(20_000, dim=8, seed=3), Workload(20_000, dim=8, seed=3)
    assert a.content(12_345) == b.content(12_345)
    assert a.embedding(12_345).tobytes() == b.embedding(12_345).tobytes()
    assert a.embeddings(1000, 3000).tobytes() == np.stack(
        [b.embedding(i) for i in range(1000, 3000)]).tobytes()
    assert all(len(a.content(i)) == a.sizes[i] for i in range(0, 20_000, 97))
    share_small = float(np.mean(a.sizes <= 120))
    assert 0.87 < share_small < 0.91, f"expected ~89% of TEXT_MIX at ~100 B; got {share_small}"
    f = Workload(20_000, dim=8, mix=FRAGMENTATION_MIX, seed=3)
    assert 0.38 < float(np.mean(f.sizes == 0)) < 0.42
    assert int((f.sizes == 100 * 1024).sum()) > 100
    assert TEXT_MIX[0].weight == 0.89


def test_fingerprints_tell_minus_zero_from_zero() -> None:
    m = np.zeros((2, 4), np.float32)
    m[1, 2] = -0.0
    fp = fingerprints(m)
    assert not np.array_equal(fp[0], fp[1]), "expected -0.0 and 0.0 rows to differ"


def test_run_history_merges_parts_and_picks_the_latest_comparable_baseline(
    tmp_path: Path,
) -> None:
    parts = tmp_path / "parts"
    w = PartWriter(parts, "t::a")
    w.figure("x.put_us", [1.0, 2.0, 3.0], unit="us", better="lower", scale=10_000)
    w.outcome = "passed"
    w.save()
    merged = merge_parts(parts)
    assert list(merged["figures"]) == ["x.put_us@10k"]
    assert merged["outcomes"] == {"t::a": "passed"}

    def run(run_id: str, date: str, store: str = "s") -> dict[str, object]:
        return {"schema": 1, "run_id": run_id, "date": date, "store": store,
                "options": {"dim": 768}, "machine": {"hostname": "h"}, "figures": {}}

    results = tmp_path / "results"
    for r in (run("a", "2026-01-01"), run("b", "2026-01-02"), run("c", "2026-01-03", "other")):
        save_run(results, r)
    current = run("d", "2026-01-04")
    runs = [json.loads(p.read_text()) for p in sorted((results / "runs").glob("*.json"))]
    assert pick_baseline(results, current, runs)["run_id"] == "b"  # type: ignore[index]
    (results / "BASELINE").write_text("a\n")
    assert pick_baseline(results, current, runs)["run_id"] == "a"  # type: ignore[index]


def test_a_recorded_scenario_result_writes_the_same_part_as_direct_figures(
    tmp_path: Path,
) -> None:
    direct = PartWriter(tmp_path / "direct", "t::a", prefix="smoke.")
    direct.figure("x.put_us", [1.0, 2.0, 3.0], unit="us", better="lower", scale=10_000,
                  scenario="x")
    direct.figure("x.rate", [5.0], unit="ops/s", better="higher", scale=20_000)
    direct.extra["x@10000"] = {"a": 1}
    direct.note("x: a finding")
    result = ScenarioResult("x", 10_000, problems=["not recorded"])
    result.figure("x.put_us", [1.0, 2.0, 3.0], unit="us", better="lower", scenario="x")
    result.figure("x.rate", [5.0], unit="ops/s", better="higher", scale=20_000)
    result.plots["x@10000"] = {"a": 1}
    result.note("x: a finding")
    recorded = PartWriter(tmp_path / "recorded", "t::a", prefix="smoke.")
    assert recorded.record(result) is result
    want, got = direct.save(), recorded.save()
    assert want is not None and got is not None
    assert json.loads(got.read_text()) == json.loads(want.read_text())
    assert list(result.figures) == ["x.put_us@10k", "x.rate@20k"]
    assert not result.ok


def test_latencies_keep_nanoseconds_and_convert_to_microseconds_per_operation() -> None:
    lat = Latencies("demo")
    lat.add_ns(2_000)
    lat.add_ns(5_000, op="get")
    lat.time("get", lambda: None)
    assert lat.us().tolist() == [2.0]
    assert lat.slice_us(0, 1, op="get").tolist() == [5.0]
    assert (lat.count(), lat.count("get"), len(lat)) == (1, 2, 3)
    assert lat.ops() == ["call", "get"]
    assert lat.percentiles_us("get")["n"] == 2
