"""The crash child: runs a seeded workload against a store until it is killed.

Run one workload: ``python -m warmtier.testing.crash.child run DIR ORACLE SEED OPS POINT``
(the store class comes from ``$WARMTIER_STORE``). Serve many: ``... child serve`` reads
one JSON request per line on stdin, forks a worker per request (imports already paid)
and answers ``pid N`` then ``exit N STATUS`` on stdout.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import traceback
from typing import Any

from warmtier import failpoints
from warmtier.testing.crash.oracle import OracleWriter
from warmtier.testing.crash.points import KillPoint
from warmtier.testing.crash.workload import apply, batch_kinds, make_store, operations
from warmtier.testing.subject import Subject

__all__ = ["KindTracker", "main", "run_workload"]



def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class KindTracker:
    """Which kind of operation is running, so failpoint hits can be counted per kind (a
    batch's kind, ``put_many`` say, for every record of it)."""

    def __init__(self) -> None:
        self.kind = "open"


def arm_kill(point: KillPoint, tracker: KindTracker) -> None:
    """Arm the failpoints so the process dies at ``point`` (``fp`` and ``hit`` points)."""
    if point.kind == "hit":
        failpoints.arm("*", failpoints.Kill(), skip=point.number - 1, times=1)
    elif point.kind == "fp":
        seen = [0]

        def maybe_kill(name: str) -> None:
            if tracker.kind == point.op_kind:
                seen[0] += 1
                if seen[0] == point.number:
                    _die()

        failpoints.arm(point.name, failpoints.Call(maybe_kill))


def run_workload(store_class: type[Any], directory: str, oracle_path: str, seed: int,
                 count: int, point: KillPoint) -> None:
    """Create a store, run the workload logging to the oracle, and never return: the
    process dies at ``point`` (or at the end of the workload, as a crash)."""
    log = OracleWriter(oracle_path)
    tracker = KindTracker()
    try:
        store = make_store(store_class, directory)
        log.ready()
        arm_kill(point, tracker)
        for op in operations(seed, count, batch_kinds(store_class)):
            if point.kind == "op" and op.index == point.number:
                _die()
            tracker.kind = op.kind
            log.start(op.index)
            apply(store, op)
            log.done(op.index)
        log.end()
    except BaseException:
        log.error(traceback.format_exc())
        os._exit(3)
    _die()


def _wait_ready(pid: int, oracle: str) -> int | None:
    """Poll until the worker's store is open; its wait status if it ended first."""
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        try:
            with open(oracle, "rb") as f:
                if f.read(2) == b"R\n":
                    return None
        except FileNotFoundError:
            pass
        time.sleep(0.001)


def _kill_later(pid: int, oracle: str, delay: float) -> int:
    """SIGKILL the worker ``delay`` seconds after its store opened. Safe against pid reuse:
    the worker is this process's child and is reaped only here."""
    status = _wait_ready(pid, oracle)
    if status is not None:
        return status
    deadline = time.monotonic() + delay
    while (left := deadline - time.monotonic()) > 0:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        time.sleep(min(left, 0.0005))
    os.kill(pid, signal.SIGKILL)
    return os.waitpid(pid, 0)[1]


def _wait(pid: int, limit: float) -> tuple[int, bool]:
    """The worker's wait status, and whether it had to be killed for running past
    ``limit`` seconds (a hang: a deadlock in the store, say)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status, False
        time.sleep(0.001)
    os.kill(pid, signal.SIGKILL)  # our own unreaped child: the pid cannot be reused
    return os.waitpid(pid, 0)[1], True


def _serve() -> None:
    """Fork a worker per request line; report its pid, then how it ended. A ``time:MS``
    point is carried out here, from outside the worker, so it can land anywhere."""
    for line in sys.stdin:
        request = json.loads(line)
        point = KillPoint.parse(request["point"])
        pid = os.fork()
        if pid == 0:  # the worker
            try:
                os.setsid()
                try:
                    cls = Subject.resolve(request["spec"]).cls
                except BaseException:
                    OracleWriter(request["oracle"]).error(traceback.format_exc())
                    raise
                run_workload(cls, request["dir"], request["oracle"], int(request["seed"]),
                             int(request["ops"]), point)
            finally:
                os._exit(4)
        print(f"pid {pid}", flush=True)
        hung = False
        if point.kind == "time":
            status = _kill_later(pid, request["oracle"], point.number / 1000)
        else:
            status, hung = _wait(pid, float(request.get("limit", 120)))
        print(f"exit {pid} {status}{' hung' if hung else ''}", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["serve"]:
        _serve()
        return 0
    if len(args) != 6 or args[0] != "run":
        print(__doc__, file=sys.stderr)
        return 2
    _, directory, oracle, seed, count, point = args
    cls = Subject.from_env().cls
    run_workload(cls, directory, oracle, int(seed), int(count), KillPoint.parse(point))
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
