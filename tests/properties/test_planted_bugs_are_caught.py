"""The suite catches bugs, not just passes: each planted bug of ours in tests/zoo makes the
store machine fail under the `ci` profile, quickly, with a short counterexample.

Slow (one machine run per bug): `nox -s properties -- -m slow`. The table of bug, time
and counterexample length is printed at the end of the run.
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from warmtier.store import WarmTierStore
from warmtier.testing.compare import ReplayContext
from warmtier.testing.properties.machines import run_machine, store_machine

ROOT = Path(__file__).resolve().parents[2]

#: Our planted bugs (the zoo holds others' too; tests/zoo/registry.py lists them all).
PLANTED = (
    "alloc_merge_keeps_neighbour",
    "replace_same_size_reads_old_extent",
    "remove_ghost_in_ids",
    "compact_writes_old_offset",
    "reopen_forgets_newest_record",
    "reopen_resets_confidence",
    "grow_loses_last_slot",
    "content_grow_drops_last_byte",
    "id_trailing_nul_stripped",
    "negative_zero_flattened",
    "search_float32_norms",
    "max_content_exclusive",
    "scan_drops_partial_batch",
)
#: Generous bounds: a catch normally takes seconds and a handful of steps.
MAX_SECONDS = 180.0
MAX_STEPS = 12

RESULTS: list[tuple[str, bool, float, int, str]] = []
_STEP = re.compile(r"^([\w, ()]+ = )?state\.(\w+)\(")


def zoo_class(name: str) -> type[Any]:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    module = importlib.import_module(f"tests.zoo.{name}")
    (cls,) = [
        obj for obj in vars(module).values()
        if inspect.isclass(obj) and issubclass(obj, WarmTierStore) and obj is not WarmTierStore
        and obj.__module__ == module.__name__
    ]
    return cls


def counterexample_steps(notes: str) -> int:
    """Rule calls in the printed program (``create`` included; invariants and teardown not)."""
    steps = 0
    for line in notes.splitlines():
        match = _STEP.match(line)
        if match and match.group(2) not in ("agrees_with_model", "teardown"):
            steps += 1
    return steps


@pytest.mark.slow
@pytest.mark.reference_only
@pytest.mark.parametrize("name", PLANTED)
def test_planted_bug_fails_the_ci_profile_quickly_with_a_short_counterexample(
    name: str,
) -> None:
    cls = zoo_class(name)
    machine = store_machine(cls, dim=4)
    ci = settings(settings.get_profile("ci"), database=None)
    spec = f"tests.zoo.{name}:{cls.__name__}"
    start = time.monotonic()
    try:
        run_machine(machine, replay=ReplayContext(
            "tests/properties/test_store_machine.py::test_store_agrees_with_model_after_every_step",
            profile="ci", store_spec=spec), settings=ci)
    except Exception as exc:
        elapsed = time.monotonic() - start
        steps = counterexample_steps("\n".join(getattr(exc, "__notes__", [])))
        summary = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        RESULTS.append((name, True, elapsed, steps, summary[:90]))
        assert elapsed < MAX_SECONDS and steps <= MAX_STEPS, (
            f"{name}: caught, but too slowly or with a long counterexample\n"
            f"  expected: < {MAX_SECONDS}s and <= {MAX_STEPS} steps\n"
            f"  actual:   {elapsed:.1f}s, {steps} steps"
        )
        return
    elapsed = time.monotonic() - start
    RESULTS.append((name, False, elapsed, 0, "not caught"))
    pytest.fail(f"{name}: the ci profile did not catch this planted bug in {elapsed:.1f}s\n"
                f"  expected: a failing counterexample\n  actual:   every example passed\n"
                f"  replay: nox -s properties -- -m slow -k {name}")
