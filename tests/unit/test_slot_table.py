"""The slot table writes fills in batches: whatever the mix of fills, clears, growth and
reads, every read sees each column as if every fill had been written at once, one slot
at a time."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from warmtier.slots import COLUMNS, ONE_BY_ONE, QUEUE, SlotTable, score_weight

pytestmark = pytest.mark.reference_only

CAPACITY = 64
ZERO = {name: dtype(0).item() for name, dtype in COLUMNS}


def _expected(steps: list[tuple[str, int]], capacity: int) -> dict[str, list[object]]:
    """Each column after ``steps``, one slot at a time in plain Python."""
    cols: dict[str, list[object]] = {name: [ZERO[name]] * capacity for name in ZERO}
    for what, slot in steps:
        if what == "fill":
            for name, value in (("live", True), ("offsets", 10 * slot), ("lengths", slot + 1),
                                ("norms", slot + 0.5), ("weights", score_weight(slot + 0.5)),
                                ("confidences", 1 / (slot + 2))):
                cols[name][slot] = value
        elif what == "clear":
            for name in ("live", "weights", "offsets", "lengths"):
                cols[name][slot] = ZERO[name]
    return cols


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["fill", "clear", "read"]),
                          st.integers(0, CAPACITY - 1)), max_size=3 * ONE_BY_ONE))
def test_reads_see_every_fill_written_whatever_was_queued(steps: list[tuple[str, int]]
                                                          ) -> None:
    table, live, done = SlotTable.empty(CAPACITY), set(), []
    for what, slot in steps:
        if what == "fill" and slot not in live:  # the store fills free slots only
            table.fill(slot, f"k{slot}", 10 * slot, slot + 1, slot + 0.5, 1 / (slot + 2))
            live.add(slot)
        elif what == "clear" and slot in live:
            table.clear(slot)
            live.discard(slot)
        elif what == "read":
            assert table.live.sum() == len(live), "a read missed a queued fill"
            continue
        else:
            continue
        done.append((what, slot))
    expected = _expected(done, CAPACITY)
    for name, dtype in COLUMNS:
        got = getattr(table, name)
        want = np.array(expected[name], dtype)
        assert np.array_equal(got, want), (
            f"column {name} after {done}: expected {want.tolist()}, got {got.tolist()}")


def test_a_long_run_of_fills_is_written_before_the_queue_passes_its_bound() -> None:
    table = SlotTable.empty(QUEUE + 10)
    for slot in range(QUEUE + 5):
        table.fill(slot, f"k{slot}", slot, 1, 1.0, 1.0)
    assert len(table._queued) < QUEUE, (
        f"{len(table._queued)} fills still queued after {QUEUE + 5}: the queue has no bound")
    assert int(table.lengths.sum()) == QUEUE + 5


def test_growth_keeps_queued_fills() -> None:
    table = SlotTable.empty(4)
    table.fill(3, "k", 7, 2, 2.0, 0.5)
    table.grow(4)
    assert table.live.tolist() == [False, False, False, True] + [False] * 4
    assert (table.offsets[3], table.norms[3], table.weights[3]) == (7, 2.0, np.float32(0.5))
