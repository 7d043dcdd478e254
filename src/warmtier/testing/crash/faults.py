"""Faults that do not kill the process: an exception escaping a mutation (injected at a
failpoint) and a full disk while the files grow.

Both promises come from the contract's "Faults and crashes": the failed call is
all-or-nothing (``CapacityError``: nothing; a batch call: a prefix of its records, each
all or nothing), ``check()`` passes, no lock stays held, the next call works, and a reopen
gives the same state.
"""

from __future__ import annotations

import errno
import os
import pickle
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from warmtier import failpoints
from warmtier.errors import CapacityError
from warmtier.testing.contract import close_quietly, snapshot
from warmtier.testing.crash.checks import diff_states, prefix_problems, run_check
from warmtier.testing.crash.isolate import Isolated, worker_or
from warmtier.testing.crash.kills import ROUND_OPS, keep_working
from warmtier.testing.crash.points import KillPoint
from warmtier.testing.crash.workload import (
    DIM,
    Batch,
    State,
    Timeline,
    apply,
    batch_kinds,
    make_store,
    operations,
)

__all__ = ["GROWTH_FAILPOINTS", "FaultOutcome", "effect_problems", "enospc", "fill",
           "full_disk_problems", "inject_exception", "lock_is_free"]

#: The reference store's growth failpoints (inside the code that maps ENOSPC to
#: CapacityError); another store may declare others.
GROWTH_FAILPOINTS = ("grow.embeddings.before_extend", "grow.slots.before_extend",
                     "grow.content.before_extend")


def enospc(name: str) -> OSError:
    """The error a full disk gives (for ``failpoints.Raise``)."""
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC) + f" (injected at {name})")


def lock_is_free(store: Any, timeout: float = 10.0) -> bool:
    """Whether another thread can call the store (no lock left held by a failed call)."""
    done = threading.Event()

    def probe() -> None:
        try:
            len(store)
        finally:
            done.set()

    threading.Thread(target=probe, daemon=True).start()
    return done.wait(timeout)


@dataclass
class FaultOutcome:
    """What an injected fault did: whether it fired, what escaped, the broken promises."""

    fired: bool
    raised: BaseException | None = None
    problems: list[str] = field(default_factory=list)


def inject_exception(store_class: type[Any], seed: int, point: KillPoint, *,
                     error: BaseException | None = None, changes_nothing: bool = False,
                     ops: int = ROUND_OPS, worker: Isolated | None = None,
                     replay: str = "") -> FaultOutcome:
    """Run the workload of ``seed`` in an isolated child (``worker``, else one of its own)
    and raise ``error`` (by default an ``InjectedFault``) at ``point`` (an
    ``fp:NAME:KIND:K`` point) instead of killing. ``changes_nothing``: a failed call must
    leave the state from before it (the ``CapacityError`` promise), not merely all or
    nothing. A death of the child is a problem naming the signal and ``replay``."""
    with worker_or(worker) as child:
        outcome = child.call(_inject_here, store_class, child.workdir, seed, point, error,
                             changes_nothing, ops)
    if outcome.ok:
        result: FaultOutcome = outcome.value
        return result
    return FaultOutcome(True, None, [outcome.report(f"running the workload with a fault at "
                                                    f"{point}", replay)])


def _inject_here(store_class: type[Any], workdir: str, seed: int, point: KillPoint,
                 error: BaseException | None, changes_nothing: bool, ops: int) -> FaultOutcome:
    """The child's part of :func:`inject_exception` (the escaped exception is sent back
    as itself when it survives pickling, else as a ``RuntimeError`` naming it)."""
    outcome = _inject(store_class, workdir, seed, point, error, changes_nothing, ops)
    try:
        pickle.loads(pickle.dumps(outcome.raised))
    except Exception:
        outcome.raised = RuntimeError(f"{type(outcome.raised).__name__}: {outcome.raised}")
    return outcome


def _inject(store_class: type[Any], workdir: str, seed: int, point: KillPoint,
            error: BaseException | None, changes_nothing: bool, ops: int) -> FaultOutcome:
    assert point.kind in ("fp", "raise", "enospc"), point
    kind = ["open"]
    seen = [0]
    fired: list[int] = []
    exc = error if error is not None else failpoints.InjectedFault(f"injected at {point}")

    def maybe_raise(name: str) -> None:
        if kind[0] == point.op_kind and not fired:
            seen[0] += 1
            if seen[0] == point.number:
                fired.append(1)
                raise exc

    where = tempfile.mkdtemp(prefix=f"fault-{seed}-", dir=workdir)
    path = os.path.join(where, "store")
    store = make_store(store_class, path)
    timeline = Timeline(list(operations(seed, ops, batch_kinds(store_class))))
    arming = failpoints.arm(point.name, failpoints.Call(maybe_raise))
    try:
        for op in timeline.steps:
            kind[0] = op.kind
            try:
                apply(store, op)
            except BaseException as caught:
                if not fired:
                    raise
                failpoints.disarm(arming)
                return FaultOutcome(True, caught,
                                    _after_fault(store, store_class, path, timeline, op.index,
                                                 seed, changes_nothing=changes_nothing))
            if fired:  # the store handled the fault itself (say, synced instead of growing)
                failpoints.disarm(arming)
                return FaultOutcome(True, None, _after_fault(store, store_class, path, timeline,
                                                             op.index, seed, completed=True))
        return FaultOutcome(False)
    finally:
        failpoints.disarm(arming)
        close_quietly(store)
        shutil.rmtree(where, ignore_errors=True)


def _after_fault(store: Any, store_class: type[Any], path: str, timeline: Timeline,
                 index: int, seed: int, *, completed: bool = False,
                 changes_nothing: bool = False) -> list[str]:
    """The promises after a failed operation ``index``: its effect (:func:`effect_problems`),
    check, no lock held, the next calls work, a reopen agrees."""
    if not lock_is_free(store):
        return ["another thread cannot call the store: the failed call left a lock held"]
    problems = run_check(store)
    actual = snapshot(store)
    problems += effect_problems(actual, timeline, index, completed=completed,
                                changes_nothing=changes_nothing)
    if problems:
        return problems
    return keep_working(store, store_class, path, actual, seed)


def effect_problems(actual: State, timeline: Timeline, index: int, *, completed: bool = False,
                    changes_nothing: bool = False) -> list[str]:
    """What operation ``index`` may have done when a fault hit it. It absorbed the fault
    and returned (``completed``): all of it. It raised: all or nothing; with
    ``changes_nothing`` (a ``CapacityError``) nothing. A batch is the loop of its records,
    each all or nothing: it raised having applied a prefix of them (``changes_nothing``:
    without the last, the one that failed)."""
    before, after = timeline.at(index), timeline.at(index + 1)
    batch = isinstance(timeline.steps[index], Batch)
    if completed:
        allowed, what = [after], "absorbed the fault and returned, but its effect is wrong"
    elif changes_nothing:
        allowed = list(range(before, max(before + 1, after)))
        what = ("failed having applied more than the records before the failing one" if batch
                else "failed and changed the records")
    else:
        allowed = list(range(before, after + 1))
        what = ("failed having applied no prefix of its records" if batch
                else "failed and was neither undone nor done whole")
    step = timeline.steps[index].describe()
    return prefix_problems(actual, timeline, allowed, f"operation {step} {what}")


# -- a real full disk --------------------------------------------------------------------


def fill(path: str) -> int:
    """Write a file until the disk is full; its size."""
    chunk = b"\xff" * 4096
    written = 0
    with open(path, "wb", buffering=0) as f:
        try:
            while True:
                written += f.write(chunk)
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
    return written


def full_disk_problems(disk: str, store_class: type[Any], puts: int = 10_000) -> list[str]:
    """Run in a child (it may die: an mmap store touching a page the full disk cannot
    back gets SIGBUS): fill the small file system ``disk`` under a store, put until the
    store reports ``CapacityError``, and check that the failed put changed nothing, the
    store works, and after freeing space the writes resume and survive a reopen."""
    path = os.path.join(disk, "store")
    store = store_class.create(path, dim=DIM)
    try:
        rng = np.random.default_rng(5)
        for i in range(8):
            store.put(f"r{i}", rng.standard_normal(DIM), bytes(1000), 0.5)
        store.flush()
        filler = os.path.join(disk, "filler")
        fill(filler)
        for i in range(puts):
            before = snapshot(store)
            try:
                store.put(f"g{i}", rng.standard_normal(DIM), os.urandom(4000), 0.5)
            except CapacityError as exc:
                failed = f"{exc}"
                break
        else:
            return ["the store never reported the full disk"]
        if snapshot(store) != before:
            return [f"the put that failed with {failed} changed the records"]
        problems = run_check(store)
        if problems or store.get("r0") is None:
            return problems or ["record r0 is gone after the failed put"]
        os.unlink(filler)
        store.put(f"g{i}", np.ones(DIM), os.urandom(4000), 0.5)
        expected = snapshot(store)
        store.close()
        again = store_class.open(path)
        try:
            problems = run_check(again) + diff_states(expected, snapshot(again))
        finally:
            again.close()
        return problems
    finally:
        close_quietly(store)
