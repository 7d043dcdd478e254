"""The bench's verdicts: a missed target says whether the shortest Python code doing its
work, measured in the same run, could have met it (not shown out of reach) or not (out of
reach in Python), so a reader can tell a slow path from a floor."""

from __future__ import annotations

import pytest

from benchmarks.tight import Tally, summarize, target_lines

pytestmark = pytest.mark.reference_only


def _run(put_ns: int, lmdb_put_ns: int) -> tuple[list[Tally], dict[str, object]]:
    tally = Tally()
    tally.add("warmtier", "put", [put_ns] * 10, 1e-5)
    tally.add("lmdb writemap", "put", [lmdb_put_ns] * 10, 1e-5)
    return [tally], summarize([tally])


def _put_line(put_ns: int, lmdb_put_ns: int, shortest: dict[str, float]) -> str:
    tallies, summary = _run(put_ns, lmdb_put_ns)
    lines = target_lines(tallies, summary, {"n": 100}, 0.0, shortest)
    return next(line for line in lines if line.startswith("- put >="))


def test_a_met_target_says_met_and_nothing_about_floors() -> None:
    line = _put_line(8_000, 5_000, {"put": 6e-6})
    assert ": met;" in line and "reach" not in line, (
        f"expected put at 0.62x LMDB to be met, with no floor note; got {line!r}")


def test_a_missed_target_whose_floor_also_misses_is_out_of_reach() -> None:
    line = _put_line(20_000, 5_000, {"put": 12e-6})  # the floor: 5 / 12 = 0.42x
    assert "MISSED; out of reach in Python" in line and "0.42x" in line, (
        f"expected the floor at 0.42x < 0.5x to show put out of reach; got {line!r}")


def test_a_missed_target_whose_floor_meets_it_is_not_shown_out_of_reach() -> None:
    line = _put_line(20_000, 5_000, {"put": 6e-6})  # the floor: 5 / 6 = 0.83x
    assert "MISSED; not shown out of reach" in line and "0.83x" in line, (
        f"expected the floor at 0.83x >= 0.5x to leave put reachable; got {line!r}")


def test_a_missed_target_without_a_floor_says_only_missed() -> None:
    line = _put_line(20_000, 5_000, {})
    assert ": MISSED;" in line and "reach" not in line, (
        f"expected a bare MISSED without floors; got {line!r}")
