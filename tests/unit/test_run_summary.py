"""Every run ends with what it exercised: rules fired (and never fired), examples, store
figures, crash and concurrency counts, added up across pytest-xdist workers.

One pytest subprocess (two workers) runs a tiny machine in four tests; the claims below
read its output. The rest checks the tally and the block in process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from warmtier.testing import exercised
from warmtier.testing.exercised import Tally, render

TINY = textwrap.dedent(
    """
    import pytest
    from hypothesis import event, given, settings, strategies as st
    from hypothesis.stateful import RuleBasedStateMachine, precondition, rule, run_state_machine_as_test

    from warmtier.testing import exercised


    class TinyMachine(RuleBasedStateMachine):
        @rule()
        def grow(self):
            event("rule: grow")
            for name in ("rule: grow", "growth: slot capacity grew"):
                event(name)
                exercised.occurred(name)  # the machines' event() does both

        @rule()
        def compact(self):
            event("rule: compact")
            exercised.occurred("rule: compact")

        @precondition(lambda self: False)
        @rule()
        def unreachable(self):
            event("rule: unreachable")


    @pytest.mark.parametrize("run", range(4))
    def test_tiny(run, record_property):
        exercised.note_machine(TinyMachine)
        run_state_machine_as_test(TinyMachine, settings=settings(
            max_examples=5, stateful_step_count=4, database=None, derandomize=True))
        exercised.count("hot-id rounds", 7)
        record_property("crash: kills", 5)


    @settings(max_examples=10, database=None, derandomize=True)
    @given(st.integers())
    def test_given(x):
        event("odd" if x % 2 else "even")
    """
)


@pytest.fixture(scope="module")
def two_worker_run(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The output of ``pytest -n 2`` over four tests of the tiny machine and a ``@given``
    test, with Hypothesis' own statistics."""
    where = tmp_path_factory.mktemp("run-summary")
    (where / "test_tiny.py").write_text(TINY, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "test_tiny.py", "-v", "-n", "2", "-p", "xdist.plugin",
         "-p", "_hypothesis_pytestplugin", "-p", "no:cacheprovider",
         "-p", "warmtier.testing.run_summary", "--hypothesis-show-statistics",
         "--rootdir", str(where)],
        cwd=where, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},  # a faster start
    )
    assert done.returncode == 0, f"expected the tiny run to pass; got:\n{done.stdout}{done.stderr}"
    return done.stdout


def _block(output: str) -> list[str]:
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if "what this run exercised" in line)
    return lines[start:]


def test_summary_is_the_last_block_before_the_final_line(two_worker_run: str) -> None:
    block = _block(two_worker_run)
    assert " passed" in block[-1] and len(block) <= 26, "\n".join(block)


def test_summary_lists_the_rules_fired_and_the_one_that_never_fired(two_worker_run: str) -> None:
    text = "\n".join(_block(two_worker_run))
    assert "TinyMachine: 4 runs, 20 examples; 2 of 3 rules fired (times run" in text, text
    assert "NEVER FIRED (a hole): unreachable" in text, text


def test_counts_from_both_workers_are_added_up(two_worker_run: str) -> None:
    assert "[gw0]" in two_worker_run and "[gw1]" in two_worker_run, two_worker_run
    block = _block(two_worker_run)
    text = "\n".join(block)
    assert "hypothesis   5 tests, 30 examples, " in text, text  # 4 x 5 examples, and 10
    steps = int(text.split(" steps")[0].split()[-1])
    ran = block[block.index(next(x for x in block if x.startswith("TinyMachine"))) + 1]
    assert steps == sum(int(pair.split()[1]) for pair in ran.split(",")), text
    assert "28 hot-id rounds" in text, text  # 4 tests x 7, two per worker
    assert "20 kills" in text, text  # record_property("crash: kills", 5) x 4


def test_hypothesis_still_prints_its_own_statistics(two_worker_run: str) -> None:
    statistics = two_worker_run.split("Hypothesis Statistics")[1]
    assert "test_tiny.py::test_given" in statistics and "odd" in statistics, two_worker_run
    assert "rarest       " in "\n".join(_block(two_worker_run)), two_worker_run


def test_store_figures_count_every_occurrence_of_the_machine_events(two_worker_run: str) -> None:
    store = next(line for line in _block(two_worker_run) if line.startswith("store"))
    grew = int(store.split(" growths")[0].split()[-1])
    assert grew > 8, f"expected every growth counted, not once per example; got: {store}"


# -- in process ---------------------------------------------------------------------------


def _tally_of_one_run(events: list[list[str]], rules: list[str]) -> Tally:
    tally = Tally()
    machine = tally.machine("M")
    machine["rules"] = rules
    stats = {"generate-phase": {"test-cases": [
        {"status": "valid", "events": case} for case in events]},
        "targets": {"records": 12.0}}
    tally.add_statistics(stats, "M")
    return tally


def test_without_the_occurrence_hook_rules_count_the_examples_they_ran_in() -> None:
    tally = _tally_of_one_run([["rule: a", "rule: b"], ["rule: a"]], ["a", "b", "c"])
    text = "\n".join(render(tally))
    assert "2 of 3 rules fired (examples each ran in, rarest first):" in text, text
    assert "b 1, a 2" in text and "NEVER FIRED (a hole): c" in text, text
    assert "largest 12 records" in text, text


def test_events_naming_a_value_count_as_one_family() -> None:
    tally = _tally_of_one_run([["rejected: put k = 1"], ["rejected: put k = 2"]], ["a"])
    assert tally.events == {"rejected: put k": 2}


def test_a_machine_nobody_named_joins_the_machine_whose_rules_it_fired() -> None:
    tally = _tally_of_one_run([["rule: a"]], ["a", "b"])
    stray = Tally()
    stray.add_statistics({"generate-phase": {"test-cases": [
        {"status": "valid", "events": ["rule: b"]}]}}, None)
    tally.merge(stray.to_json())
    text = "\n".join(render(tally))
    assert "M: 2 runs, 2 examples; 2 of 2 rules fired" in text, text


def test_merging_adds_counts_and_keeps_maxima() -> None:
    one = Tally(counts={"crash: kills": 2}, highest={"target: records": 5})
    one.merge(Tally(counts={"crash: kills": 3}, highest={"target: records": 4}).to_json())
    assert one.counts == {"crash: kills": 5} and one.highest == {"target: records": 5}


def test_the_block_never_exceeds_twenty_five_lines() -> None:
    tally = Tally(counts={"hypothesis: runs": 1, "crash: kills": 1, "schedules": 3})
    for i in range(6):
        m = tally.machine(f"Machine{i}")
        m["rules"] = [f"rule_{i}_{j}" for j in range(40)]
        m["ran"] = {r: 1 for r in m["rules"][:30]}
    lines = render(tally, width=80)
    assert len(lines) <= 25, "\n".join(lines)


def test_counters_of_a_process_are_taken_once() -> None:
    exercised.take()
    exercised.count("hot-id rounds", 2)
    exercised.sample("operations per history", 10)
    exercised.sample("operations per history", 30)
    taken = exercised.take()
    assert taken.counts == {"hot-id rounds": 2, "operations per history": 2,
                            "operations per history: sum": 40}
    assert "2 histories checked (20 operations on average, at most 30)" in "\n".join(
        render(taken))
    assert not exercised.take()
