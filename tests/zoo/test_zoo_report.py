"""The zoo report reads failures right: steps of the shrunk program, the replay command,
the mutation score; and a run that cannot judge a store is never counted as a catch."""

from __future__ import annotations

import doctest

import pytest

from warmtier.testing.meta import first_failure, mutation_report
from warmtier.testing.meta.first_failure import counterexample_steps, is_usage_error, replay_line

HYPOTHESIS_FAILURE = """\
E           warmtier.testing.compare.StoreMismatch: scan() missed live records
E           Failing test case: <state machine>
E           state = StoreMachine()
E           state.create(options={'initial_capacity': 1})
E           state.agrees_with_model()
E           (keys_0,) = state.grow(count=1, same_embedding=False, seed=0, size=0)
E           state.agrees_with_model()
E           state.abandon_and_reopen()
E           state.teardown()
E           Replay: nox -s properties -- tests/p.py::test_m --warmtier-replay=6.1:AXic
"""


@pytest.mark.parametrize("module", [first_failure, mutation_report], ids=lambda m: m.__name__)
def test_the_report_modules_examples_hold(module: object) -> None:
    result = doctest.testmod(module)  # type: ignore[arg-type]
    assert result.attempted > 0 and result.failed == 0, result


def test_steps_count_rules_and_not_the_invariant_printed_after_each() -> None:
    assert counterexample_steps(HYPOTHESIS_FAILURE) == 3  # create, grow, abandon_and_reopen


def test_a_failure_without_a_state_machine_program_has_no_step_count() -> None:
    assert counterexample_steps("AssertionError: 3 != 4") is None


def test_the_printed_replay_command_wins_over_a_built_one() -> None:
    line = replay_line(HYPOTHESIS_FAILURE, "tests/p.py::test_m", "pkg.m:C")
    assert line == "nox -s properties -- tests/p.py::test_m --warmtier-replay=6.1:AXic"


def test_a_bad_store_spec_reads_as_a_usage_error_not_a_catch() -> None:
    text = "pytest.UsageError: --warmtier-store='tests.zoo.gone:X': cannot import 'tests.zoo.gone'"
    assert is_usage_error(text)
    assert not is_usage_error(HYPOTHESIS_FAILURE)
