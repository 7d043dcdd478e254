"""The CI gate's 10K smoke versions of scale scenarios 1 (round trip), 4 (fragmentation
lifecycle) and 5 (leak check): same code as the nightly ones, smaller dimension.

They assert behaviour only (exact read-back, fragmentation drops, no clear leak), never
wall-clock time, and need nothing beyond the ``test`` extra.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from warmtier.perf.history import PartWriter
from warmtier.perf.progress import Progress
from warmtier.perf.scenarios import run_fragmentation, run_leak, run_roundtrip

SMOKE_DIM = 32


@pytest.fixture(autouse=True)
def _smoke_figures_apart(perf: PartWriter) -> None:
    """Smoke figures (dim 32) must not be compared with the nightly ones (dim 768)."""
    perf.prefix = "smoke."


def test_10k_records_put_in_batches_read_back_exactly_and_match_the_model(
    scale_store: Callable[[int], Any], perf: PartWriter, progress: Progress
) -> None:
    result = perf.record(run_roundtrip(scale_store, progress, n=10_000, dim=SMOKE_DIM))
    assert result.ok, result.describe_problems("every record to read back exactly")


def test_removing_half_of_10k_mixed_sizes_and_refilling_keeps_every_record_and_compact_defragments(
    scale_store: Callable[[int], Any], perf: PartWriter, progress: Progress
) -> None:
    result = perf.record(
        run_fragmentation(scale_store, progress, n=10_000, refill=5_000, dim=SMOKE_DIM)
    )
    assert result.ok, (
        result.describe_problems("every record intact and fragmentation lower after compact()")
        + f"\nstages: {result.plots['fragmentation']}"
    )


def test_ten_cycles_of_1k_puts_and_removes_do_not_grow_rss_by_a_megabyte_per_cycle(
    scale_store: Callable[[int], Any], perf: PartWriter, progress: Progress
) -> None:
    result = perf.record(
        run_leak(scale_store, progress, per_cycle=1_000, cycles=10, dim=SMOKE_DIM)
    )
    assert result.ok, "\n".join(result.problems)
