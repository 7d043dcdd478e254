"""Faults around a live store: an exception escaping a mutation at any failpoint, and a
full disk while the files grow, leave the failed call all-or-nothing (a full disk:
nothing), check() true, no lock held, and the store working. The store runs in an
isolated child: a store killed by a signal (an mmap store on a full disk gets SIGBUS) is a
failure naming the signal, the kept files and the replay command."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from warmtier.errors import CapacityError
from warmtier.testing.crash.faults import (
    GROWTH_FAILPOINTS,
    enospc,
    full_disk_problems,
    inject_exception,
)
from warmtier.testing.crash.isolate import Isolated, run_isolated
from warmtier.testing.crash.kills import census, replay_command, systematic_points
from warmtier.testing.crash.points import KillPoint

SEEDS = (1, 2, 3)


def _needs_failpoints(store_class: type[Any]) -> None:
    if not getattr(store_class, "failpoint_names", ()):
        pytest.skip("the store declares no failpoints (failpoint_names is empty)")


def _sweep(store_class: type[Any], store_spec: str, seed: int, points: list[KillPoint],
           record: Callable[[str, float], None], **options: Any) -> None:
    failures = []
    fired = 0
    with Isolated() as worker:
        outcomes = [(point, inject_exception(store_class, seed, point, worker=worker,
                                             **options)) for point in points]
    for point, outcome in outcomes:
        fired += outcome.fired
        if outcome.problems:
            failures.append(f"seed {seed}, fault at {point} "
                            f"(raised {type(outcome.raised).__name__}: {outcome.raised}):\n  "
                            + "\n  ".join(outcome.problems)
                            + f"\nreplay: {replay_command(seed, point.as_kind('raise'), store_spec)}")
    record("injected faults", fired)
    assert fired, f"seed {seed}: none of the {len(points)} faults fired"
    if failures:
        pytest.fail(f"{len(failures)} of {len(points)} injected faults broke a promise; the "
                    "first:\n" + "\n".join(failures[:3]), pytrace=False)


def test_an_exception_at_the_first_hit_of_every_failpoint_leaves_the_call_all_or_nothing(
        store_class: type[Any], store_spec: str, crash_workdir: str,
        record: Callable[[str, float], None]) -> None:
    _needs_failpoints(store_class)
    hits, _ = census(store_class, SEEDS[0], workdir=crash_workdir)
    _sweep(store_class, store_spec, SEEDS[0], systematic_points(hits, nth=False), record)


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS)
def test_an_exception_at_any_hit_of_every_failpoint_leaves_the_call_all_or_nothing(
        seed: int, store_class: type[Any], store_spec: str, crash_workdir: str,
        record: Callable[[str, float], None]) -> None:
    _needs_failpoints(store_class)
    hits, _ = census(store_class, seed, workdir=crash_workdir)
    _sweep(store_class, store_spec, seed, systematic_points(hits), record)


@pytest.mark.parametrize("name", GROWTH_FAILPOINTS)
@pytest.mark.promise("full-disk")
def test_enospc_while_growing_raises_capacity_error_and_changes_nothing(
        name: str, store_class: type[Any], store_spec: str, crash_workdir: str,
        record: Callable[[str, float], None]) -> None:
    if name not in getattr(store_class, "failpoint_names", ()):
        pytest.skip(f"the store declares no failpoint {name!r}")
    hits, _ = census(store_class, SEEDS[0], workdir=crash_workdir)
    points = [KillPoint("fp", name, kind, k) for (fp, kind), n in sorted(hits.items())
              if fp == name for k in sorted({1, n})]
    assert points, f"the workload never grows through {name}"
    escaped = []
    with Isolated() as worker:
        outcomes = [(point, inject_exception(store_class, SEEDS[0], point, error=enospc(name),
                                             changes_nothing=True, worker=worker))
                    for point in points]
    for point, outcome in outcomes:
        replay = replay_command(SEEDS[0], point.as_kind("enospc"), store_spec)
        assert not outcome.problems, (f"ENOSPC at {point}, seed {SEEDS[0]}:\n  "
                                      + "\n  ".join(outcome.problems) + f"\nreplay: {replay}")
        if outcome.raised is not None:
            assert isinstance(outcome.raised, CapacityError), (
                f"ENOSPC at {point} escaped as {type(outcome.raised).__name__}: "
                f"{outcome.raised}; the contract wants CapacityError\nreplay: {replay}")
            escaped.append(point)
    record("injected faults", len(points))
    assert escaped, f"no ENOSPC at {name} reached the caller (each was absorbed)"


# -- a real full disk ---------------------------------------------------------------------


@pytest.fixture
def small_disk(crash_workdir: str) -> Iterator[str]:
    """A 4 MiB tmpfs mounted for this test (skips where mounting is not permitted)."""
    where = os.path.join(crash_workdir, "disk")
    os.mkdir(where)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", where],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({done.stderr.strip() or done.returncode});"
                    " the injected-ENOSPC tests cover growth")
    try:
        yield where
    finally:
        subprocess.run(["umount", where], capture_output=True, check=False)


@pytest.mark.persistent
def test_a_full_file_system_raises_capacity_error_and_writes_resume_after_space_is_freed(
        small_disk: str, store_class: type[Any], crash_test_replay: str) -> None:
    outcome = run_isolated(full_disk_problems, small_disk, store_class,
                           keep=os.path.join(small_disk, "store"))
    if not outcome.ok:
        pytest.fail(outcome.report("filling the disk under it", crash_test_replay),
                    pytrace=False)
    assert not outcome.value, ("on a full disk:\n  " + "\n  ".join(outcome.value)
                               + f"\nreplay: {crash_test_replay}")
