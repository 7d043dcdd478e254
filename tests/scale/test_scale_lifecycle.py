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
    result = perf.record(run_fragmentation(scale_store, progress, n=20_000, refill=10_000, dim=64))
    assert result.ok, (
        result.describe_problems("every record (the 100 KB ones above all) intact and "
                                 "fragmentation lower after compact()")
        + f"\nstages: {result.plots['fragmentation']}"
    )


def test_ten_cycles_of_10k_puts_and_removes_do_not_grow_rss_by_a_megabyte_per_cycle(
    scale_store: Callable[[int], Any], perf: PartWriter, progress: Progress, scale_dim: int
) -> None:
    result = perf.record(
        run_leak(scale_store, progress, per_cycle=10_000, cycles=10, dim=scale_dim)
    )
    assert result.ok, "\n".join(result.problems)


@pytest.mark.scale(100_000)
def test_10_writers_and_10_readers_on_100k_records_never_see_torn_records_and_end_as_the_model(
    scale_store: Callable[[int], Any], perf: PartWriter, progress: Progress
) -> None:
    result = perf.record(run_concurrency(scale_store, progress, n=100_000, dim=64))
    assert result.ok, result.describe_problems(
        "readers to see only records that were put, and the final state to equal the "
        "model's replay of each writer"
    )
