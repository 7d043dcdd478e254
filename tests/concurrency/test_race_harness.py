"""The barrier harness itself: a deadlock fails with every stack, errors surface, and the
switch interval comes back."""

from __future__ import annotations

import sys
import threading

import pytest

from warmtier.testing.concurrency.races import Latencies, RaceTimeout, run_race


def test_deadlocked_race_fails_with_every_threads_stack_instead_of_hanging() -> None:
    never = threading.Event()
    with pytest.raises(RaceTimeout) as info:
        run_race([never.wait, lambda: None], timeout=0.5, replay="replay-hint")
    message = str(info.value)
    assert "1 still running" in message and "replay-hint" in message
    assert "race-0" in message and "wait" in message, message
    never.set()


def test_worker_exception_is_reraised_with_which_worker_raised() -> None:
    def boom() -> None:
        raise KeyError("k")

    with pytest.raises(KeyError) as info:
        run_race([lambda: None, boom], timeout=10)
    assert any("worker 1 of 2" in note for note in getattr(info.value, "__notes__", []))


def test_workers_start_together_and_the_switch_interval_is_restored() -> None:
    before = sys.getswitchinterval()
    seen: list[float] = []

    def worker() -> None:
        seen.append(sys.getswitchinterval())

    run_race([worker] * 4, timeout=10, interval=2e-5)
    assert seen == pytest.approx([2e-5] * 4), f"expected 2e-5 s inside the race, got {seen}"
    assert sys.getswitchinterval() == before


def test_latency_table_reports_every_percentile() -> None:
    lat = Latencies("demo")
    for _ in range(100):
        lat.time("get", lambda: None)
    table = lat.table()
    for column in ("p50", "p90", "p99", "p99.9", "max"):
        assert column in table
    assert lat.percentiles_us("get")["n"] == 100
