"""The controlled scheduler: one thread at a time, exact replay, and it never hangs."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from warmtier import failpoints
from warmtier.testing.concurrency.scheduler import (
    PCTStrategy,
    RandomStrategy,
    ScheduleDeadlock,
    Scheduler,
    Strategy,
    make_strategy,
)


def stepping_tasks(log: list[str], threads: int = 3, steps: int = 4) -> list[Callable[[], None]]:
    """Tasks that log each step and hit a failpoint between steps."""

    def task(name: str) -> Callable[[], None]:
        def body() -> None:
            for i in range(steps):
                log.append(f"{name}{i}")
                failpoints.failpoint("test.step")

        return body

    return [task(chr(ord("a") + t)) for t in range(threads)]


def run_logged(strategy: Strategy) -> list[str]:
    log: list[str] = []
    Scheduler(strategy).run(stepping_tasks(log))
    return log


@pytest.mark.parametrize("name", ["random", "pct"])
def test_same_seed_replays_the_same_interleaving(name: str) -> None:
    for seed in range(5):
        first = run_logged(make_strategy(name, seed))
        again = run_logged(make_strategy(name, seed))
        assert first == again, f"seed {seed}: {first} then {again}"


@pytest.mark.parametrize("name", ["random", "pct"])
def test_different_seeds_explore_different_interleavings(name: str) -> None:
    seen = {tuple(run_logged(make_strategy(name, seed))) for seed in range(12)}
    assert len(seen) >= 4, f"12 seeds of {name} gave only {len(seen)} interleavings"


def test_only_one_scheduled_thread_runs_between_points() -> None:
    active = [0]
    overlaps: list[int] = []

    def body() -> None:
        for _ in range(20):
            active[0] += 1
            time.sleep(0.0005)  # releases the GIL: another free thread would get in here
            if active[0] != 1:
                overlaps.append(active[0])
            active[0] -= 1
            failpoints.failpoint("test.step")

    Scheduler(RandomStrategy(3)).run([body] * 4)
    assert overlaps == [], f"expected one runner at a time; saw {overlaps}"


def test_pct_without_change_points_runs_each_thread_to_completion() -> None:
    log = run_logged(PCTStrategy(seed=1, depth=1))
    blocks = [log[i : i + 4] for i in range(0, 12, 4)]
    assert all(len({s[0] for s in block}) == 1 for block in blocks), log


def test_thread_blocked_on_a_lock_is_set_aside_and_the_run_completes() -> None:
    lock = threading.Lock()
    counter = [0]

    def body() -> None:
        for _ in range(5):
            with lock:
                value = counter[0]
                failpoints.failpoint("test.inside_lock")
                counter[0] = value + 1
            failpoints.failpoint("test.outside_lock")

    blocked = 0
    for seed in range(6):
        counter[0] = 0
        result = Scheduler(RandomStrategy(seed), timeout=30).run([body] * 3)
        assert counter[0] == 15, f"seed {seed}: expected 15 increments, got {counter[0]}"
        blocked += result.blocked_events
    assert blocked > 0, "expected some thread to block on the lock another thread holds"


def test_thread_running_long_without_a_point_does_not_stall_the_others() -> None:
    log: list[str] = []

    def long_runner() -> None:
        end = time.monotonic() + 0.6
        while time.monotonic() < end:
            pass
        log.append("long")

    def stepper() -> None:
        for i in range(5):
            log.append(f"step{i}")
            failpoints.failpoint("test.step")

    Scheduler(PCTStrategy(seed=0, depth=1), long_bound=0.05).run([long_runner, stepper])
    assert sorted(log) == ["long", "step0", "step1", "step2", "step3", "step4"]


def test_deadlock_fails_with_stacks_and_seed_instead_of_hanging() -> None:
    first, second = threading.Lock(), threading.Lock()

    def one(a: threading.Lock, b: threading.Lock) -> Callable[[], None]:
        def body() -> None:
            with a:
                failpoints.failpoint("test.between_locks")
                with b:
                    pass

        return body

    deadlocked = None
    for seed in range(20):
        sched = Scheduler(
            RandomStrategy(seed), deadlock_after=0.5, replay="--warmtier-schedule-seed=X"
        )
        try:
            sched.run([one(first, second), one(second, first)])
        except ScheduleDeadlock as exc:
            deadlocked = (seed, str(exc))
            break
    assert deadlocked is not None, "no seed of 20 interleaved the lock-order inversion"
    seed, message = deadlocked
    assert f"seed {seed}" in message and "stayed blocked" in message
    assert "body" in message and "Stacks" in message
    assert "--warmtier-schedule-seed=X" in message


def test_task_error_is_reraised_with_the_seed_to_replay() -> None:
    def bad() -> None:
        failpoints.failpoint("test.step")
        raise KeyError("boom")

    with pytest.raises(KeyError) as info:
        Scheduler(RandomStrategy(42), replay="replay me").run([bad, bad])
    notes = "\n".join(getattr(info.value, "__notes__", []))
    assert "seed 42" in notes and "replay me" in notes


def test_failpoints_hit_outside_the_run_do_not_pause() -> None:
    sched = Scheduler(RandomStrategy(0))
    sched.run([lambda: None])
    done = threading.Event()

    def outsider() -> None:
        failpoints.failpoint("test.after_run")  # disarmed after the run
        sched.point("unmanaged")  # not a scheduled thread
        done.set()

    thread = threading.Thread(target=outsider, daemon=True)
    thread.start()
    assert done.wait(5.0), "a failpoint outside the run paused its thread"


def test_interleaving_with_threads_blocked_on_a_lock_replays_exactly() -> None:
    lock = threading.Lock()

    def run(seed: int) -> list[str]:
        log: list[str] = []

        def task(name: str) -> Callable[[], None]:
            def body() -> None:
                for i in range(4):
                    with lock:
                        log.append(f"{name}{i}<")
                        failpoints.failpoint("test.inside_lock")
                        log.append(f"{name}{i}>")
                    failpoints.failpoint("test.outside_lock")

            return body

        Scheduler(RandomStrategy(seed)).run([task("a"), task("b"), task("c")])
        return log

    for seed in range(4):
        assert run(seed) == run(seed), f"seed {seed} did not replay"


def test_a_thread_asleep_over_one_long_poll_is_not_taken_for_blocked(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A thread waiting for the GIL sleeps in futex with its clock still, for as long as
    the controller holds the GIL; on a busy machine that outlasts the time window within
    one poll. Only several quiet polls in a row make it blocked (else one seed replayed
    two interleavings when the machine was loaded)."""
    from warmtier.testing.concurrency import scheduler as mod

    monkeypatch.setattr(mod, "_proc_state", lambda native_id: "S")
    monkeypatch.setattr(mod, "_cpu_ns", lambda ident: 1234)
    monkeypatch.setattr(mod, "_sleeps_in_io", lambda native_id: False)
    sched = Scheduler(RandomStrategy(0))
    worker = mod._Worker(0, lambda: None, thread=threading.current_thread(),
                         state=mod.RUNNING, resumed_at=0.0)
    now = 0.0
    assert not sched._quiet(worker, now), "first sight of a still clock"
    now += 1.0  # one poll, long after the window: the controller lost its core meanwhile
    assert not sched._quiet(worker, now), "one long poll was taken for a blocked thread"
    verdicts = []
    for _ in range(mod._QUIET_POLLS):
        now += sched.block_window
        verdicts.append(sched._quiet(worker, now))
    assert verdicts[-1], f"expected blocked after {mod._QUIET_POLLS} quiet polls: {verdicts}"
