"""The race zoo: every planted race bug is caught, and by which technique, how fast.

Each technique gets a fixed budget per bug: 100 barrier runs of the race probe, 100
seeds of each scheduler strategy, one panic per declared failpoint (those the
reference store passes), and 100 Hypothesis examples of parallel branches. The table
of runs needed is printed; the test asserts every bug is caught by some technique and
that the controlled scheduler catches a race the barrier runs miss.
"""

from __future__ import annotations

import importlib
import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from warmtier.store import WarmTierStore
from warmtier.testing.concurrency.hunt import Catch, hunt_barrier, hunt_panic, hunt_schedule
from warmtier.testing.concurrency.panics import Unreached, inject_once
from warmtier.testing.concurrency.parallel import DIM, concurrent_property

pytestmark = [pytest.mark.slow, pytest.mark.reference_only]

RACE_BUGS = {
    "slot chosen outside the lock": "zoo.race_alloc_outside_lock:AllocOutsideLockStore",
    "publish before the slot is written": (
        "zoo.race_publish_before_content:PublishBeforeContentStore"
    ),
    "compaction swaps the arena before the offsets": (
        "zoo.compact_swap_before_offsets:SwapBeforeOffsetsStore"
    ),
    "lock not released when put raises": (
        "zoo.race_lock_leak_on_exception:LockLeakOnExceptionStore"
    ),
    "len counter updated outside the lock": (
        "zoo.race_len_counter_nonatomic:LenCounterNonatomicStore"
    ),
}
BUDGET = 100


def load(spec: str) -> type[Any]:
    module, _, name = spec.partition(":")
    cls: type[Any] = getattr(importlib.import_module(module), name)
    return cls


def factory(cls: type[Any], root: Path) -> Callable[[], Any]:
    root.mkdir(parents=True, exist_ok=True)
    counter = itertools.count()
    return lambda: cls.create(f"{root}/s{next(counter)}", dim=DIM)


def reference_panic_failures(root: Path) -> set[str]:
    """Failpoints where the reference store itself fails panic injection (not the bug's)."""
    failing = set()
    make = factory(WarmTierStore, root)
    for name in WarmTierStore.failpoint_names:
        store = make()
        try:
            inject_once(store, name, wait=3.0)
        except Unreached:
            pass
        except Exception:
            failing.add(name)
        finally:
            store.close()
    return failing


def hunt_hypothesis(make: Callable[[], Any]) -> Catch | None:
    verdicts: list[str | None] = []
    try:
        concurrent_property(make, max_examples=BUDGET, observe=verdicts.append)()
    except Exception as exc:
        first = next((i for i, v in enumerate(verdicts) if v), len(verdicts) - 1)
        return Catch("hypothesis parallel branches", first + 1, None, str(exc)[:200])
    return None


def test_every_race_bug_is_caught_and_the_scheduler_beats_barriers(tmp_path: Path) -> None:
    skip = reference_panic_failures(tmp_path / "reference")
    rows = []
    for bug, spec in RACE_BUGS.items():
        cls = load(spec)
        make = factory(cls, tmp_path / cls.__name__)
        names = [n for n in getattr(cls, "failpoint_names", ()) if n not in skip]
        catches = {
            "barrier": hunt_barrier(make, BUDGET),
            "random": hunt_schedule(make, "random", range(BUDGET)),
            "pct": hunt_schedule(make, "pct", range(BUDGET), depth=3, max_steps=80),
            "panic": hunt_panic(make, names),
            "hypothesis": hunt_hypothesis(make),
        }
        rows.append((bug, spec, catches))
    lines = [f"{'bug':<48}" + "".join(f"{k:>12}" for k in rows[0][2])]
    for bug, _, catches in rows:
        cells = []
        for catch in catches.values():
            cells.append(f"{'miss' if catch is None else catch.runs:>12}")
        lines.append(f"{bug:<48}" + "".join(cells))
    table = "\n".join(lines)
    print(f"\nruns needed to catch each race bug (budget {BUDGET}; 'miss' = not caught):\n{table}")
    for bug, _, catches in rows:
        for name, catch in catches.items():
            if catch is not None:
                print(f"  {bug} / {name}: {catch.detail[:160]}")
    uncaught = [bug for bug, _, catches in rows if all(c is None for c in catches.values())]
    assert uncaught == [], f"expected every race bug caught; missed: {uncaught}\n{table}"
    scheduler_first = [bug for bug, _, c in rows if _beats(c["random"], c["barrier"])
                       or _beats(c["pct"], c["barrier"])]
    assert scheduler_first, (
        "expected the controlled scheduler to catch at least one race in fewer runs than "
        f"barriers need (or that {BUDGET} barrier runs miss); got:\n{table}"
    )


def _beats(a: Catch | None, b: Catch | None) -> bool:
    """Whether catch ``a`` took fewer runs than ``b`` (a miss takes more than any)."""
    return a is not None and (b is None or a.runs < b.runs)
