"""Nightly timed scale scenarios: 1 (10K round trip), 2 (100K latency percentiles),
3 (1M build, scan, search, open) and 6 (cliff detection from 1K to 200K or 1M).

Marked ``timing``: the nox session runs them serially, never beside another test. They
record figures for the report and assert behaviour only, never wall-clock time.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import pytest

from warmtier.perf.history import PartWriter
from warmtier.perf.progress import Progress
from warmtier.perf.result import ScenarioResult
from warmtier.perf.scenarios import run_cliff, run_latency, run_million, run_roundtrip

pytestmark = [pytest.mark.slow, pytest.mark.timing]


class ScaleCliffWarning(UserWarning):
    """A figure broke its trend as the store grew (reported, not failed: timing varies)."""


def _fail_on(result: ScenarioResult, what: str) -> None:
    assert result.ok, result.describe_problems(what)


def test_10k_round_trip_at_full_dimension_reads_every_record_back_exactly(
    scale_store: Callable[[int], Any], perf: PartWriter, progress: Progress, scale_dim: int
) -> None:
    result = perf.record(run_roundtrip(scale_store, progress, n=10_000, dim=scale_dim))
    _fail_on(result, "every record to read back exactly, as the model holds it")


@pytest.mark.scale(100_000)
def test_100k_store_keeps_every_record_while_latency_percentiles_are_recorded(
    scale_store: Callable[[int], Any], perf: PartWriter, progress: Progress, scale_dim: int
) -> None:
    result = perf.record(run_latency(scale_store, progress, n=100_000, dim=scale_dim))
    _fail_on(result, "every record of 100K intact through scans and gets")
    figures = result.plots["latency@100000"]
    print(f"100K: put {figures['put']}, get {figures['get']}, early/late "
          f"{figures['degradation']}")


@pytest.mark.scale(1_000_000)
def test_1m_store_scans_searches_exactly_and_reopens_with_every_record(
    scale_store: Callable[[int], Any],
    reopen_store: Callable[[str], Any],
    perf: PartWriter,
    progress: Progress,
    scale_dim: int,
) -> None:
    result = perf.record(
        run_million(scale_store, reopen_store, progress, n=1_000_000, dim=scale_dim)
    )
    _fail_on(result, "1M records: exact scans, exact top-10 search, all back after open()")
    print(f"1M: {result.plots['million@1000000']}")


@pytest.mark.scale(100_000)
def test_growing_to_scale_keeps_reads_exact_and_reports_where_figures_break_trend(
    scale_store: Callable[[int], Any],
    perf: PartWriter,
    progress: Progress,
    scale_dim: int,
    scale_limit: int,
) -> None:
    scales = [1_000, 10_000, 50_000, 100_000, 200_000]
    if scale_limit >= 1_000_000:
        scales.append(1_000_000)
    result = perf.record(run_cliff(scale_store, progress, scales=scales, dim=scale_dim))
    _fail_on(result, "exact reads and full scans at every scale of the ladder")
    for text in result.plots["cliff_breaks"]:
        warnings.warn(ScaleCliffWarning(text), stacklevel=1)
