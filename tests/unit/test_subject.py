"""The subject: what the suites read off the store under test, and how a declared known
gap turns the tests of that promise into strict expected failures."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.zoo.alloc_no_coalesce import NoCoalesceStore
from warmtier.model import ModelStore
from warmtier.store import WarmTierStore
from warmtier.testing.subject import REFERENCE_STORE, Subject, SubjectError

pytestmark = pytest.mark.own_stores

LOCK_TEST = "tests/unit/test_store_lifecycle.py::test_a_second_open_of_an_open_store_is_locked_out"


def test_the_reference_store_is_the_reference_and_claims_no_loss() -> None:
    subject = Subject.resolve(REFERENCE_STORE)
    assert subject.is_reference and subject.no_loss and subject.has_check
    assert not subject.in_memory
    assert subject.failpoint_names == WarmTierStore.failpoint_names
    assert {"initial_capacity", "max_content"} <= set(subject.create_options)
    assert subject.open_options == ("verify",)


def test_a_zoo_member_keeps_the_reference_promise_but_not_its_definitions() -> None:
    subject = Subject.of(NoCoalesceStore)
    assert subject.no_loss, "a planted bug inherits the reference store's crash promise"
    assert not subject.is_reference, "reference-only checks must not judge a subclass"


def test_the_model_is_in_memory_and_takes_only_max_content() -> None:
    subject = Subject.of(ModelStore)
    assert subject.in_memory and subject.no_loss and subject.has_check
    assert subject.create_options == ("max_content",)
    assert subject.options(initial_capacity=8, max_content=9) == {"max_content": 9}


def test_a_store_that_declares_nothing_gets_the_contract_defaults() -> None:
    subject = Subject.resolve("tests.unit.gap_stores:PlainStore")
    assert subject.crash_promise == "prefix" and not subject.no_loss
    assert subject.create_options == () and subject.failpoint_names == ()
    assert not subject.has_check and not subject.in_memory and subject.known_gaps == {}


@pytest.mark.parametrize("spec", ["nomodule_xyz:Store", "warmtier.store:NoSuchClass",
                                  "warmtier.store", "tests.unit.gap_stores:UnknownGapModel"])
def test_a_bad_spec_or_declaration_is_a_subject_error_saying_why(spec: str) -> None:
    with pytest.raises(SubjectError, match=r"\S"):
        Subject.resolve(spec)


def _run_lock_test(spec: str) -> str:
    env = {**os.environ, "WARMTIER_STORE": spec}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", LOCK_TEST, "-p", "no:cacheprovider", "-p",
         "no:xdist", "-q", "-rxX", f"--warmtier-store={spec}"],
        capture_output=True, text=True, env=env, timeout=120, check=False)
    return done.stdout + done.stderr


def test_a_declared_gap_that_is_real_is_reported_as_an_expected_failure() -> None:
    out = _run_lock_test("tests.unit.gap_stores:UnlockedModel")
    assert "1 xfailed" in out, out
    assert "declares the known gap 'locking': open() takes no lock" in out, out


def test_a_declared_gap_that_the_store_keeps_anyway_fails_the_run() -> None:
    out = _run_lock_test("tests.unit.gap_stores:NeedlesslyModestModel")
    assert "1 failed" in out and "XPASS(strict)" in out, out


def test_batch_calls_are_drawn_only_where_declared() -> None:
    assert Subject.of(WarmTierStore).batch_calls == WarmTierStore.batch_calls
    assert Subject.of(NoCoalesceStore).batch_calls, "a zoo member inherits the declaration"

    class Undeclared(ModelStore):
        def put_many(self, records: object) -> int:  # another meaning of the name
            return 0

    assert Subject.of(Undeclared).batch_calls == ()


@pytest.mark.parametrize("declared", [("put_many", "upsert_many"), ("get_many",)])
def test_a_batch_call_declared_but_unknown_or_missing_is_a_subject_error(
        declared: tuple[str, ...]) -> None:
    class Declares(ModelStore):
        batch_calls = declared

    with pytest.raises(SubjectError, match="batch_calls"):
        Subject.of(Declares)
