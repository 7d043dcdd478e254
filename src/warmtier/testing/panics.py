"""Panic injection: make a failpoint raise inside a mutation, then judge the aftermath.

:func:`inject_once` runs a workload that reaches every step of every mutation (puts of
0 B to 70 KB, replacements, removes, flushes, compactions, growth of both files) with
one failpoint armed to raise on its first hit in the calling thread. The faulted call
must be all-or-nothing against the model, ``check()`` must pass, a call from another
thread must return promptly (no lock left held), and later calls must work.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

from warmtier import failpoints
from warmtier.records import Record
from warmtier.testing.contract import snapshot
from warmtier.testing.races import dump_stacks
from warmtier.testing.witness import check_store, expected, value

__all__ = ["MAX_OPS", "Unreached", "assert_promptly_usable", "inject_once", "workload"]

Model = dict[str, Record]
Op = tuple[str, Callable[[Any], object], Callable[[Model], None]]
MAX_OPS = 4000
"""How many workload operations to try before declaring a failpoint unreachable."""


class Unreached(Exception):
    """The workload never hit the armed failpoint."""


def workload(prefix: str) -> Iterator[Op]:
    """Endless (label, call, apply-to-model) operations on ids starting with ``prefix``:
    puts of 0 B to 70 KB and of 1 MiB every 40th (so growth recurs even while other
    threads keep the arena large), replacements, removes, flushes and compactions."""
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
            yield _remove(f"{prefix}{i // 3}")
        if i % 60 == 0:
            yield "flush()", lambda s: s.flush(), lambda m: None
        if i % 170 == 0:
            yield "compact()", lambda s: s.compact(), lambda m: None


def _put(id: str, seq: int, size: int) -> Op:
    emb, content, conf = value(id, 0, seq, size)

    def apply(model: Model) -> None:
        model[id] = expected(id, 0, seq, size)

    return f"put({id!r}, {size} B)", lambda s: s.put(id, emb, content, conf), apply


def _remove(id: str) -> Op:
    def apply(model: Model) -> None:
        model.pop(id, None)

    return f"remove({id!r})", lambda s: s.remove(id), apply


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
    operation. Raises :class:`Unreached` if the workload never hits ``name``."""
    model: Model = {}
    arming = failpoints.arm(name, failpoints.Raise(), times=1, thread=threading.get_ident())
    try:
        for count, op in enumerate(workload(prefix)):
            label, call, apply = op
            if count >= MAX_OPS:
                raise Unreached(f"the workload never reached failpoint {name!r} in {MAX_OPS} ops")
            try:
                call(store)
            except failpoints.InjectedFault:
                break
            apply(model)
    finally:
        failpoints.disarm(arming)
    after = dict(model)
    apply(after)
    assert_promptly_usable(store, replay, wait)
    state = snapshot(store, prefix)
    if state != model and state != after:
        differing = sorted(set(state) ^ set(model) | {k for k in state if state[k] != model.get(k)})
        raise AssertionError(
            f"{label} faulted at {name!r} was not all-or-nothing: expected the state before "
            f"({len(model)} records) or after ({len(after)}), got {len(state)} records; "
            f"ids that differ from before: {differing[:4]}. {replay}"
        )
    checked(store, f"after {label} faulted at {name!r}", replay)
    model = state
    for _, later, apply_later in (_put(f"{prefix}later", 7, 123), _remove(f"{prefix}1")):
        later(store)
        apply_later(model)
    if snapshot(store, prefix) != model:
        raise AssertionError(f"calls after {label} faulted at {name!r} went wrong. {replay}")
    checked(store, f"after later calls following {label} faulted at {name!r}", replay)
    return label
