"""Corrupt files: whatever bytes the files of a store hold (bit flips, truncations, zeroed
or swapped pages, random bytes, extensions, deleted files), open() either raises
CorruptionError or gives a store that passes check() and keeps working. The store opens
them in an isolated child: a store killed by a signal on some file set is a failure that
names the signal, keeps the files and prints the replay command."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from warmtier.testing.crash.fuzz import (
    Mutation,
    apply_mutations,
    base_images,
    loop_case,
    mutations,
    open_outcome,
)
from warmtier.testing.crash.isolate import Isolated
from warmtier.testing.crash.kills import replay_command

#: Hypothesis examples in the CI gate (the nightly loop runs 10 x --crash-rounds).
CI_EXAMPLES = 1500

_BASES: dict[str, dict[str, dict[str, bytes]]] = {}


@pytest.fixture
def bases(store_spec: str, store_class: type[Any], crash_workdir: str) -> dict[str, dict[str, bytes]]:
    """Populated stores to mutate (built once per store class and process)."""
    if store_spec not in _BASES:
        _BASES[store_spec] = base_images(store_class, crash_workdir)
    return _BASES[store_spec]


@pytest.mark.promise("corrupt-files")
def test_mutated_files_open_as_corruption_error_or_a_working_store(
        bases: dict[str, dict[str, bytes]], store_class: type[Any], crash_seed: int,
        announced_seed: int, crash_test_replay: str,
        record: Callable[[str, float], None]) -> None:
    names = sorted(bases)

    @seed(crash_seed)
    @settings(max_examples=CI_EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(base=st.sampled_from(names), muts=mutations())
    def opens_cleanly(base: str, muts: list[Mutation]) -> None:
        problems = open_outcome(store_class, apply_mutations(bases[base], muts),
                                worker=worker)
        assert not problems, (f"base store {base!r} with mutations "
                              f"{[str(m) for m in muts]}:\n  " + "\n  ".join(problems)
                              + f"\nreplay: {crash_test_replay}")

    with Isolated() as worker:
        opens_cleanly()
    record("file mutations", CI_EXAMPLES)



@pytest.mark.slow
@pytest.mark.promise("corrupt-files")
def test_a_hundred_thousand_mutated_file_sets_open_as_corruption_error_or_a_working_store(
        bases: dict[str, dict[str, bytes]], store_class: type[Any], store_spec: str,
        crash_seed: int, announced_seed: int, crash_rounds: int,
        record: Callable[[str, float], None]) -> None:
    rng = np.random.default_rng(crash_seed)
    names = sorted(bases)
    count = 10 * crash_rounds
    with Isolated() as worker:
        for i in range(count):
            base, muts = loop_case(rng, i, names)
            problems = open_outcome(store_class, apply_mutations(bases[base], muts),
                                    worker=worker)
            if problems:
                replay = replay_command(crash_seed, f"fz:{i}", store_spec)
                pytest.fail(f"fuzz loop seed {crash_seed}, case {i}: base store {base!r} "
                            f"with {[str(m) for m in muts]}:\n  " + "\n  ".join(problems)
                            + f"\nreplay: {replay}", pytrace=False)
    record("file mutations", count)
