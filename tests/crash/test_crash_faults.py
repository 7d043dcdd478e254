"""Faults around a live store: an exception escaping a mutation at any failpoint, and a
full disk while the files grow, leave the failed call all-or-nothing (a full disk:
nothing), check() true, no lock held, and the store working."""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

from warmtier.errors import CapacityError
from warmtier.testing.crash.checks import run_check
from warmtier.testing.crash.faults import GROWTH_FAILPOINTS, enospc, inject_exception
from warmtier.testing.crash.kills import census, replay_command, systematic_points
from warmtier.testing.crash.points import KillPoint
from warmtier.testing.crash.workload import DIM, snapshot

SEEDS = (1, 2, 3)


def _needs_failpoints(store_class: type[Any]) -> None:
    if not getattr(store_class, "failpoint_names", ()):
        pytest.skip("the store declares no failpoints (failpoint_names is empty)")


def _sweep(store_class: type[Any], store_spec: str, crash_workdir: str, seed: int,
           points: list[KillPoint], record: Callable[[str, float], None],
           **options: Any) -> None:
    failures = []
    fired = 0
    for point in points:
        outcome = inject_exception(store_class, crash_workdir, seed, point, **options)
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
    _sweep(store_class, store_spec, crash_workdir, SEEDS[0],
           systematic_points(hits, nth=False), record)


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS)
def test_an_exception_at_any_hit_of_every_failpoint_leaves_the_call_all_or_nothing(
        seed: int, store_class: type[Any], store_spec: str, crash_workdir: str,
        record: Callable[[str, float], None]) -> None:
    _needs_failpoints(store_class)
    hits, _ = census(store_class, seed, workdir=crash_workdir)
    _sweep(store_class, store_spec, crash_workdir, seed, systematic_points(hits), record)


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
    for point in points:
        outcome = inject_exception(store_class, crash_workdir, SEEDS[0], point,
                                   error=enospc(name), changes_nothing=True)
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


def _fill(path: str) -> int:
    """Write a file until the disk is full; its size."""
    chunk = b"\xff" * 4096
    written = 0
    with open(path, "wb", buffering=0) as f:
        try:
            while True:
                written += f.write(chunk)
        except OSError as exc:
            assert exc.errno in (errno.ENOSPC, errno.EDQUOT), exc
    return written


@pytest.mark.persistent
@pytest.mark.promise("full-disk")
def test_a_full_file_system_raises_capacity_error_and_writes_resume_after_space_is_freed(
        small_disk: str, store_class: type[Any]) -> None:
    path = os.path.join(small_disk, "store")
    store = store_class.create(path, dim=DIM)
    try:
        rng = np.random.default_rng(5)
        for i in range(8):
            store.put(f"r{i}", rng.standard_normal(DIM), bytes(1000), 0.5)
        store.flush()
        filler = os.path.join(small_disk, "filler")
        _fill(filler)
        failed = None
        for i in range(10_000):
            before = snapshot(store)
            try:
                store.put(f"g{i}", rng.standard_normal(DIM), os.urandom(4000), 0.5)
            except CapacityError as exc:
                failed = (i, exc)
                break
        assert failed is not None, "the store never reported the full disk"
        i, exc = failed
        assert snapshot(store) == before, f"the put that failed with {exc} changed the records"
        assert run_check(store) == []
        assert store.get("r0") is not None
        os.unlink(filler)
        store.put(f"g{i}", np.ones(DIM), os.urandom(4000), 0.5)
        expected = snapshot(store)
        store.close()
        again = store_class.open(path)
        try:
            assert run_check(again) == []
            assert snapshot(again) == expected
        finally:
            again.close()
    finally:
        with contextlib.suppress(Exception):
            store.close()
