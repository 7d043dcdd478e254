"""Process-kill rounds: run the workload in a child, kill it, reopen, check the promises.

:class:`KillHarness` owns a fork server (``python -m warmtier.testing.crash.child serve``)
so a round costs a fork, not an interpreter start. :func:`census` counts the failpoint
hits of a workload per operation kind, which :func:`systematic_points` turns into kill
points (first, second and last hit of every failpoint in every kind that reaches it);
:func:`batch_points` aims kills between the records of a batch call.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from warmtier import failpoints
from warmtier.testing.contract import close_quietly, snapshot
from warmtier.testing.crash.checks import answer_problems, diff_states, kill_problems, run_check
from warmtier.testing.crash.isolate import Isolated
from warmtier.testing.crash.oracle import Progress, read_oracle
from warmtier.testing.crash.points import KillPoint
from warmtier.testing.crash.workload import (
    Batch,
    State,
    Timeline,
    apply,
    batch_kinds,
    make_store,
    operations,
)
from warmtier.testing.subject import REFERENCE_STORE, Subject

__all__ = [
    "ROUND_OPS",
    "KillHarness",
    "RoundResult",
    "batch_points",
    "census",
    "close_quietly",
    "failure_summary",
    "hit_log",
    "random_points",
    "replay_command",
    "systematic_points",
]

#: Operations per kill round. Fixed, so ``SEED:POINT`` alone reproduces a round.
ROUND_OPS = 120


def replay_command(seed: int, point: KillPoint | str, store_spec: str) -> str:
    """The command that reruns one round (or one power-loss crash point)."""
    words = ["nox", "-s", "crash", "--", "--replay", f"{seed}:{point}"]
    if store_spec != REFERENCE_STORE:
        words.append(f"--warmtier-store={store_spec}")
    return shlex.join(words)


@dataclass
class RoundResult:
    """What one round did and found; ``problems`` empty means every promise held."""

    seed: int
    point: KillPoint
    store_spec: str
    progress: Progress
    killed: bool
    problems: list[str] = field(default_factory=list)

    @property
    def reached(self) -> bool:
        """Whether the kill landed where it was aimed (False: the workload ran out first)."""
        return self.killed and not self.progress.ended

    def where(self) -> str:
        p = self.progress
        cls = Subject.resolve(self.store_spec).cls
        ops = list(operations(self.seed, p.started, batch_kinds(cls)))
        flight = f"in flight: {ops[p.in_flight].describe()}" if p.in_flight is not None \
            else "nothing in flight"
        return f"{p.completed} operation(s) completed, {flight}"

    def report(self) -> str:
        """The failure message: seed, kill point, where it landed, problems, replay."""
        lines = [
            f"crash round failed for store {self.store_spec}: seed {self.seed}, "
            f"kill point {self.point} ({self.where()})",
            *[f"  {p}" for p in self.problems],
            f"replay: {replay_command(self.seed, self.point, self.store_spec)}",
        ]
        if not self.point.exact:
            lines.append("  (a timed kill lands near, not exactly at, the same instant on replay;"
                         f" an exact neighbour is op:{self.progress.started})")
        return "\n".join(lines)


class KillHarness:
    """Runs kill rounds against one store class; use as a context manager."""

    def __init__(self, store_spec: str, workdir: str | os.PathLike[str], *,
                 strict: bool | None = None, ops: int = ROUND_OPS) -> None:
        self.store_spec = store_spec
        subject = Subject.resolve(store_spec)
        self.store_class = subject.cls
        self.strict = subject.no_loss if strict is None else strict
        self.ops = ops
        self.workdir = os.fspath(workdir)
        self.rounds = 0
        self.kills = 0
        self._server: subprocess.Popen[str] | None = None
        #: Recovery runs here, so a store that dies opening its crashed files is a
        #: failed round, not a dead test run.
        self._recovery = Isolated()

    # -- the fork server -------------------------------------------------------------

    def _start(self) -> subprocess.Popen[str]:
        if self._server is None or self._server.poll() is not None:
            env = {**os.environ, "WARMTIER_STORE": self.store_spec, "OPENBLAS_NUM_THREADS": "1",
                   "OMP_NUM_THREADS": "1"}
            root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
                os.path.dirname(os.path.abspath(__file__))))))
            path = [os.getcwd(), root, *filter(None, env.get("PYTHONPATH", "").split(":"))]
            env["PYTHONPATH"] = ":".join(path)
            self._server = subprocess.Popen(
                [sys.executable, "-m", "warmtier.testing.crash.child", "serve"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
            )
        return self._server

    def close(self) -> None:
        self._recovery.close()
        server, self._server = self._server, None
        if server is not None:
            assert server.stdin is not None
            server.stdin.close()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()

    def __enter__(self) -> KillHarness:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run_child(self, directory: str, oracle: str, seed: int,
                   point: KillPoint) -> tuple[int, bool]:
        """Run one workload in a forked worker; its wait status and whether it hung."""
        server = self._start()
        assert server.stdin is not None and server.stdout is not None
        request = {"dir": directory, "oracle": oracle, "seed": seed, "ops": self.ops,
                   "point": str(point), "spec": self.store_spec}
        server.stdin.write(json.dumps(request) + "\n")
        server.stdin.flush()
        first = server.stdout.readline()
        second = server.stdout.readline()
        if not first.startswith("pid ") or not second.startswith("exit "):
            raise RuntimeError(f"the crash fork server died (said {first!r}, {second!r}); "
                               f"its exit code is {server.poll()}")
        words = second.split()
        return int(words[2]), words[3:] == ["hung"]

    # -- one round -------------------------------------------------------------------

    def round(self, seed: int, point: KillPoint) -> RoundResult:
        """Run, kill, recover and check one round; never raises for a broken promise."""
        self.rounds += 1
        where = tempfile.mkdtemp(prefix=f"kill-{seed}-", dir=self.workdir)
        directory, oracle = os.path.join(where, "store"), os.path.join(where, "oracle")
        try:
            status, hung = self._run_child(directory, oracle, seed, point)
            killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
            self.kills += killed and not hung
            progress = read_oracle(oracle)
            result = RoundResult(seed, point, self.store_spec, progress, killed and not hung)
            if hung:
                result.problems.append("the workload hung (killed after 120 s without "
                                       "reaching its kill point or its end)")
            elif progress.error:
                result.problems.append("the workload raised before any crash:\n"
                                       + progress.error.rstrip())
            elif not killed:
                result.problems.append(f"the child ended with wait status {status}, "
                                       "not with SIGKILL")
            elif not progress.ready:
                result.problems.append("the child died before its store was created")
            else:
                outcome = self._recovery.call(
                    recovery_problems, self.store_class, directory, seed, progress,
                    self.strict, keep=directory)
                result.problems.extend(outcome.value if outcome.ok else [
                    outcome.report("recovering the killed store")])
            return result
        finally:
            shutil.rmtree(where, ignore_errors=True)


def recovery_problems(store_class: type[Any], directory: str, seed: int, progress: Progress,
                      strict: bool) -> list[str]:
    """Open the killed store in ``directory`` and judge it against the promise (run in an
    isolated child: a store may die opening what a kill left)."""
    timeline = Timeline(list(operations(seed, progress.started, batch_kinds(store_class))))
    try:
        store = open_after_crash(store_class, directory, seed)
    except Exception as exc:
        return [f"open() after the kill raised {type(exc).__name__}: {exc}"]
    try:
        problems = run_check(store)
        actual = snapshot(store)
        problems += kill_problems(actual, timeline, progress.completed,
                                  progress.in_flight is not None, strict)
        if problems:
            return problems
        return keep_working(store, store_class, directory, actual, seed)
    finally:
        close_quietly(store)


def open_after_crash(store_class: type[Any], directory: str, seed: int) -> Any:
    """Open the crashed store. A store whose ``open`` takes ``verify`` (the reference
    store's extension) is opened with ``verify="recent"`` on odd seeds: that mode trusts
    the slots older than the last durability point, and recovery must be right in both."""
    wanted = {"verify": "recent"} if seed % 2 else {}
    return Subject.of(store_class).open(directory, **wanted)


def keep_working(store: Any, store_class: type[Any], directory: str, state: State,
                 seed: int, count: int = 12) -> list[str]:
    """After recovery the store must keep working: more operations (batch reads
    answering as the model does), a close, a reopen. Closes ``store``; returns problems."""
    follow = Timeline(list(operations(seed + 1_000_003, count, batch_kinds(store_class))),
                      initial=state)
    expected = follow.after(count)
    try:
        for op in follow.steps:
            wrong = answer_problems(op, apply(store, op), follow.after(op.index))
            if wrong:
                return ["the recovered store, given more operations:", *wrong]
        store.close()
    except Exception as exc:
        return [f"the recovered store failed at {type(exc).__name__}: {exc}"]
    try:
        again = store_class.open(directory)
    except Exception as exc:
        return [f"reopening the recovered store raised {type(exc).__name__}: {exc}"]
    try:
        problems = run_check(again)
        diff = diff_states(expected, snapshot(again))
        if diff:
            problems += ["after more operations and a reopen the state differs:", *diff]
        return problems
    finally:
        close_quietly(again)


# -- choosing kill points --------------------------------------------------------------


def hit_log(store_class: type[Any], seed: int, ops: int = ROUND_OPS,
            workdir: str | None = None) -> tuple[list[tuple[str, int]], float]:
    """Run the workload in this process (in ``workdir``) and log every failpoint hit as
    (name, the number of the operation it came in); also how long the workload took (to
    aim timed kills)."""
    log: list[tuple[str, int]] = []
    current = [-1]
    where = tempfile.mkdtemp(prefix="census-", dir=workdir)
    try:
        store = make_store(store_class, os.path.join(where, "store"))
        arming = failpoints.arm("*", failpoints.Call(lambda name: log.append((name, current[0]))))
        started = time.perf_counter()
        try:
            for op in operations(seed, ops, batch_kinds(store_class)):
                current[0] = op.index
                apply(store, op)
        finally:
            failpoints.disarm(arming)
        elapsed = time.perf_counter() - started
        close_quietly(store)
    finally:
        shutil.rmtree(where, ignore_errors=True)
    return log, elapsed


def census(store_class: type[Any], seed: int, ops: int = ROUND_OPS,
           workdir: str | None = None) -> tuple[dict[tuple[str, str], int], float]:
    """Run the workload in this process (in ``workdir``) and count failpoint hits per
    (name, op kind); also return how long the workload took (to aim timed kills)."""
    log, elapsed = hit_log(store_class, seed, ops, workdir)
    steps = list(operations(seed, ops, batch_kinds(store_class)))
    hits: dict[tuple[str, str], int] = {}
    for name, index in log:
        key = (name, steps[index].kind)
        hits[key] = hits.get(key, 0) + 1
    return hits, elapsed


def batch_points(store_class: type[Any], seed: int, ops: int = ROUND_OPS,
                 workdir: str | None = None) -> list[KillPoint]:
    """Kill points between the records of a batch: for every (failpoint, batch kind), the
    second hit in the first batch that hits the failpoint three times or more (for a
    store that hits it once per record, a kill with records of the batch on both sides)."""
    log, _ = hit_log(store_class, seed, ops, workdir)
    steps = list(operations(seed, ops, batch_kinds(store_class)))
    per_op = Counter(log)
    within: Counter[tuple[str, int]] = Counter()
    seen: Counter[tuple[str, str]] = Counter()
    points: dict[tuple[str, str], KillPoint] = {}
    for name, index in log:
        key = (name, steps[index].kind)
        seen[key] += 1
        within[name, index] += 1
        if (isinstance(steps[index], Batch) and key not in points
                and within[name, index] == 2 and per_op[name, index] >= 3):
            points[key] = KillPoint("fp", name, key[1], seen[key])
    return list(points.values())


def systematic_points(hits: dict[tuple[str, str], int], *, nth: bool = True) -> list[KillPoint]:
    """Every (failpoint, kind) reached, killed at its first and second hit, and at its
    last (``nth``)."""
    points: list[KillPoint] = []
    for (name, kind), n in sorted(hits.items()):
        chosen = {1, 2, n} if nth else {1}
        points.extend(KillPoint("fp", name, kind, k) for k in sorted(chosen) if k <= n)
    return points


def random_points(rng: np.random.Generator, count: int, *, total_hits: int,
                  duration: float, ops: int = ROUND_OPS) -> Iterator[KillPoint]:
    """``count`` random kill points: timed kills, kills between operations, and (when
    the store has failpoints) kills at the k-th failpoint hit of the whole workload."""
    for _ in range(count):
        r = float(rng.random())
        if total_hits and r < 0.4:
            yield KillPoint("hit", number=int(rng.integers(1, total_hits + 1)))
        elif r < 0.7:
            yield KillPoint("op", number=int(rng.integers(1, ops + 1)))
        else:
            yield KillPoint("time", number=int(rng.integers(0, max(2, int(duration * 1000)) + 1)))


def failure_summary(results: list[RoundResult], limit: int = 3) -> str | None:
    """None when every round kept its promises; else the count and the first reports."""
    failed = [r for r in results if r.problems]
    if not failed:
        return None
    return (f"{len(failed)} of {len(results)} kill round(s) broke a crash promise; "
            f"the first {min(limit, len(failed))}:\n\n"
            + "\n\n".join(r.report() for r in failed[:limit]))
