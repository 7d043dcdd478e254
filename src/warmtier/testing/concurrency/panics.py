"""Panic injection: make a failpoint raise inside a mutation of a workload of
:class:`~warmtier.testing.ops.Op`, then judge the aftermath against the model."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from warmtier import failpoints
from warmtier.model import ModelStore
from warmtier.testing.concurrency.races import dump_stacks
from warmtier.testing.concurrency.witness import DIM, check_store, value
from warmtier.testing.contract import snapshot
from warmtier.testing.ops import Op

__all__ = ["MAX_OPS", "Unreached", "assert_promptly_usable", "inject_once", "workload"]

MAX_OPS = 4000
"""How many workload operations to try before declaring a failpoint unreachable."""


class Unreached(Exception):
    """The workload never hit the armed failpoint."""


def workload(prefix: str) -> Iterator[Op]:
    """Endless operations on ids starting with ``prefix``: puts of 0 B to 70 KB and of
    1 MiB every 40th (so growth recurs even while other threads keep the arena large),
    replacements, removes, flushes and compactions."""
    i = 0
    while True:
        i += 1
        size = (i * 997) % 70_000 if i % 7 == 0 else (i * 13) % 400
        if i % 40 == 0:
            size = (1 << 20) + i  # a 1 MiB record: the arena must grow again and again
        yield _put(f"{prefix}{i}", i, size)
        if i % 3 == 0:
            yield _put(f"{prefix}{i // 2}", i + 100_000, (i * 31) % 900)
        if i % 4 == 0:
            yield Op.on("remove", f"{prefix}{i // 3}")
        if i % 60 == 0:
            yield Op.on("flush")
        if i % 170 == 0:
            yield Op.on("compact")


def _put(id: str, seq: int, size: int) -> Op:
    return Op.put(id, *value(id, 0, seq, size))


def assert_promptly_usable(store: Any, replay: str = "", wait: float = 10.0) -> None:
    """A call from another thread returns within ``wait`` seconds: no lock was left held."""
    done = threading.Event()

    def probe() -> None:
        len(store)
        store.ids()
        store.get("probe-id")
        done.set()

    threading.Thread(target=probe, name="lock-probe", daemon=True).start()
    if not done.wait(wait):
        raise AssertionError(
            "expected a call from another thread to return promptly after the injected "
            f"fault; it is still blocked after {wait:g} s (a lock left held?). {replay}\n"
            f"{dump_stacks()}"
        )


def checked(store: Any, when: str, replay: str) -> None:
    """``check()`` if the store has it; a failure says when it happened and how to replay."""
    try:
        check_store(store)
    except Exception as exc:
        exc.add_note(f"check() failed {when}; expected it to pass. {replay}")
        raise


def inject_once(
    store: Any, name: str, prefix: str = "p", replay: str = "", wait: float = 10.0
) -> str:
    """Fault ``name`` once in this thread and check the aftermath; returns the faulted
    operation. Raises :class:`Unreached` if the workload never hits ``name``.

    The workload reaches every step of every mutation; the faulted call must be
    all-or-nothing against the model, ``check()`` must pass, a call from another thread
    must return promptly (no lock left held), and later calls must work.
    """
    model = ModelStore(dim=DIM)
    op = _run_until_fault(store, model, name, prefix)
    label = op.describe()
    before = snapshot(model, prefix)
    op.apply(model)
    after = snapshot(model, prefix)
    assert_promptly_usable(store, replay, wait)
    state = snapshot(store, prefix)
    if state != before and state != after:
        differing = sorted(set(state) ^ set(before)
                           | {k for k in state if state[k] != before.get(k)})
        raise AssertionError(
            f"{label} faulted at {name!r} was not all-or-nothing: expected the state before "
            f"({len(before)} records) or after ({len(after)}), got {len(state)} records; "
            f"ids that differ from before: {differing[:4]}. {replay}"
        )
    checked(store, f"after {label} faulted at {name!r}", replay)
    model = _model_of(state)  # the model follows the store: before or after the call
    for later in (_put(f"{prefix}later", 7, 123), Op.on("remove", f"{prefix}1")):
        later.apply(store)
        later.apply(model)
    if snapshot(store, prefix) != snapshot(model, prefix):
        raise AssertionError(f"calls after {label} faulted at {name!r} went wrong. {replay}")
    checked(store, f"after later calls following {label} faulted at {name!r}", replay)
    return label


def _run_until_fault(store: Any, model: ModelStore, name: str, prefix: str) -> Op:
    """Run the workload on ``store`` and ``model`` until ``name`` raises in this thread;
    the faulted operation (applied to neither)."""
    arming = failpoints.arm(name, failpoints.Raise(), times=1, thread=threading.get_ident())
    try:
        for count, op in enumerate(workload(prefix)):
            if count >= MAX_OPS:
                raise Unreached(f"the workload never reached failpoint {name!r} in {MAX_OPS} ops")
            try:
                op.apply(store)
            except failpoints.InjectedFault:
                return op
            op.apply(model)
    finally:
        failpoints.disarm(arming)
    raise AssertionError("unreachable: the workload is endless")  # pragma: no cover


def _model_of(records: dict[str, Any]) -> ModelStore:
    """A model holding ``records``."""
    model = ModelStore(dim=DIM)
    for rec in records.values():
        model.put(rec.id, rec.embedding, rec.content, rec.confidence)
    return model
