"""Panic injection: every failpoint the store declares, armed to raise mid-operation.

After the injected exception the operation must be all-or-nothing (the store equals the
model from before the call or from after it), ``check()`` passes, no lock stays held (a
call from another thread returns promptly) and later calls work; alone, and with other
threads using the store at the same time.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from warmtier.records import Record
from warmtier.testing.concurrency.panics import Unreached, inject_once
from warmtier.testing.concurrency.pytest_plugin import ReplayHint
from warmtier.testing.concurrency.races import dump_stacks
from warmtier.testing.concurrency.witness import DIM, check_store, expected, value, whole
from warmtier.testing.plugin import subject_of


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "failpoint_name" in metafunc.fixturenames:
        subject = subject_of(metafunc.config)
        names = subject.failpoint_names
        metafunc.parametrize(
            "failpoint_name", names or [pytest.param("-", marks=pytest.mark.skip(
                reason=f"{subject.spec} declares no failpoints"))]
        )


def inject(store: Any, name: str, replay: str) -> None:
    try:
        inject_once(store, name, "p", replay)
    except Unreached as exc:
        pytest.skip(str(exc))


def test_injected_panic_at_each_failpoint_is_all_or_nothing(
    make_store: Callable[..., Any], failpoint_name: str, replay: ReplayHint
) -> None:
    store = make_store(dim=DIM)
    inject(store, failpoint_name, replay.command())


def test_injected_panic_with_other_threads_running_is_all_or_nothing(
    make_store: Callable[..., Any], failpoint_name: str, replay: ReplayHint, race_timeout: float
) -> None:
    store = make_store(dim=DIM)
    stop = threading.Event()
    problems: list[str] = []

    def neighbour(t: int) -> None:
        mine: dict[str, Record] = {}
        rng = random.Random(t)
        seq = 0
        while not stop.is_set():
            seq += 1
            id = f"bg{t}-{rng.randrange(20)}"
            roll = rng.random()
            try:
                if roll < 0.2:
                    size = rng.choice((0, 40, 3000))
                    emb, content, conf = value(id, t, seq, size)
                    store.put(id, emb, content, conf)
                    mine[id] = expected(id, t, seq, size)
                    # Writes stay rare, so the main thread's workload is the one that
                    # makes the files grow (and so reaches the grow.* failpoints).
                    time.sleep(0.002)
                elif roll < 0.95:
                    got = store.get(id)
                    if got != mine.get(id):
                        problems.append(f"{id}: expected {mine.get(id)!r}, got {got!r}"
                                        + (f" ({whole(got)})" if got is not None else ""))
                else:
                    store.remove(id)
                    mine.pop(id, None)
            except Exception as exc:  # the fault is armed for the main thread only
                problems.append(f"neighbour {t} got {exc!r}")
                return

    threads = [threading.Thread(target=neighbour, args=(t,), daemon=True) for t in range(3)]
    for thread in threads:
        thread.start()
    try:
        inject(store, failpoint_name, replay.command())
    finally:
        stop.set()
        for thread in threads:
            thread.join(race_timeout)
    stuck = [t for t in threads if t.is_alive()]
    assert not stuck, f"neighbour threads never finished. {replay.command()}\n{dump_stacks()}"
    assert problems == [], f"neighbours saw: {problems[:3]}. {replay.command()}"
    check_store(store)
