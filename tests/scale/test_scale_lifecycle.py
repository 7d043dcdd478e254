"""Nightly untimed scale scenarios: 4 (fragmentation lifecycle at 20K), 5 (leak check,
10 cycles of 10K) and 7 (concurrency on 100K records). They measure space and memory,
not time, so the nox session spreads them across cores with pytest-xdist.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from warmtier.perf.history import PartWriter
from warmtier.perf.progress import Progress
from warmtier.perf.scenarios import run_concurrency, run_fragmentation, run_leak

pytestmark = pytest.mark.slow


def test_20k_mixed_sizes_survive_remove_half_refill_and_compact_with_less_fragmentation(
    scale_store: Callable[[int], Any], perf: PartWriter, progress: Progress
) -> None:
    problems, stages = run_fragmentation(
        scale_store, perf, progress, n=20_000, refill=10_000, dim=64
    )
    assert problems == [], (
        "expected every record (the 100 KB ones above all) intact and fragmentation lower "
        "after compact(); got:\n" + "\n".join(problems) + f"\nstages: {stages}"
    )


def test_ten_cycles_of_10k_puts_and_removes_do_not_grow_rss_by_a_megabyte_per_cycle(
    scale_store: Callable[[int], Any], perf: PartWriter, progress: Progress, scale_dim: int
) -> None:
    result = run_leak(scale_store, perf, progress, per_cycle=10_000, cycles=10, dim=scale_dim)
    assert result.problems == [], "\n".join(result.problems)
    assert not result.leaks, (
        f"expected memory slopes not clearly above {result.limit_mb} MB/cycle; got "
        f"{result.describe()}; RSS per cycle (MB): {[round(x, 2) for x in result.rss_mb]}; "
        f"anonymous: {[round(x, 2) for x in result.anon_mb]}"
    )


@pytest.mark.scale(100_000)
def test_10_writers_and_10_readers_on_100k_records_never_see_torn_records_and_end_as_the_model(
    scale_store: Callable[[int], Any], perf: PartWriter, progress: Progress
) -> None:
    problems = run_concurrency(scale_store, perf, progress, n=100_000, dim=64)
    assert problems == [], (
        "expected readers to see only records that were put, and the final state to equal "
        "the model's replay of each writer; got:\n" + "\n".join(problems)
    )
