"""Runs a workload in a traced child and records, in order, every durability-relevant
syscall any of its threads or children makes on the watched directory; can kill it at one.

Mechanism. The parent forks; the child asks to be traced (PTRACE_TRACEME), stops, and
once the parent has set its options installs a seccomp-BPF filter that returns
SECCOMP_RET_TRACE for the watched syscalls only (opens only with O_CREAT, O_TRUNC or
O_TMPFILE, mmap only of shared file mappings) and allows every other syscall without a
stop. The parent sees each watched call at its entry (a PTRACE_EVENT_SECCOMP stop),
resumes it with PTRACE_SYSCALL to see its exit, then lets it run free. Because the
kernel stops the caller, this sees the calls of C code (sqlite3, LMDB, numpy's msync)
exactly like Python's, and of every thread and forked child (PTRACE_O_TRACECLONE, FORK,
VFORK); the filter is inherited across exec, so a command can be traced too. Everything a
sync makes durable (the file's bytes through /proc/<tid>/fd/<fd>, an msync's mapped range
through /proc/<tid>/map_files, a directory's names) is read while the caller is stopped,
before the call returns. An LD_PRELOAD shim was rejected: it misses raw syscalls and
statically linked code. Without seccomp (``mode="syscall"``), every syscall stops twice
(PTRACE_SYSCALL) and the decoder drops the unwatched ones: same events, much slower.

An ``observe`` callback sees each event twice while its thread is stopped: at its entry
(before the call reaches the kernel) and once it has returned; it may read the watched
directory then (a crash point's page cache). A workload marks its own steps by writing a
label to the file ``marks`` (outside the watched directory): each write is a :class:`Mark`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

from warmtier.testing.crash.trace import ptrace, seccomp
from warmtier.testing.crash.trace.decode import Decoder, Pending
from warmtier.testing.crash.trace.events import Event, Sync
from warmtier.testing.crash.trace.proc import Pages, Tree, Watch, read_tree, s64
from warmtier.testing.crash.trace.syscalls import TABLE, Arch, current_arch

__all__ = ["Mode", "Observer", "StopAt", "Trace", "trace"]

Mode = Literal["seccomp", "syscall"]
#: Where to kill the child: the event numbered ``n`` (0-based), or the first event for
#: which the predicate is true.
StopAt = int | Callable[[Event], bool] | None
Workload = Callable[[], object] | Sequence[str]
#: Called with each event at its entry (``returned`` False) and after it returned (True),
#: while the calling thread is stopped.
Observer = Callable[[Event, bool], None]


@dataclass(frozen=True)
class Trace:
    """What one traced run did to the watched directory, and how it ended."""

    watch_dir: str
    events: tuple[Event, ...]  # completed calls, in order of entry (``seq``)
    in_flight: tuple[Event, ...]  # entered, never returned (killed inside the call)
    stopped_at: Event | None  # the event the crash point fired on (in_flight or events)
    crashed: bool  # the child was killed at a crash point (or by the timeout)
    exit_status: int | None  # the child's exit code, or minus the signal that killed it
    initial: Tree  # the directory before the workload (the baseline: all durable)
    final: Tree  # the directory after the child died: what a process crash leaves
    stops: int = 0  # ptrace stops the tracer handled (cost)
    seconds: float = 0.0  # wall time from fork to the child's death
    timed_out: bool = False
    pid: int = 0  # the child's process id (its threads and children have others)

    def syncs(self) -> list[Sync]:
        """The sync calls that made something durable, in order."""
        return [e for e in self.events if isinstance(e, Sync) and e.durable]

    def of(self, *syscalls: str) -> list[Event]:
        return [e for e in self.events if e.syscall in syscalls]

    def describe(self) -> str:
        """The log, one call a line (for assertion messages)."""
        return "\n".join(e.describe() for e in (*self.events, *self.in_flight))


def trace(workload: Workload, watch_dir: str | os.PathLike[str], stop_at: StopAt = None, *,
          after: bool = False, mode: Mode = "seccomp", timeout: float | None = 120.0,
          page: int = 4096, observe: Observer | None = None,
          marks: str | os.PathLike[str] | None = None) -> Trace:
    """Run ``workload`` (a callable, run in a forked child, or an argv to exec) traced, and
    return what it did to ``watch_dir``. With ``stop_at``, SIGKILL the child (all its
    threads and children) when that event is reached: before the call runs, or with
    ``after=True`` once it has returned but before the caller sees the result. ``observe``
    and ``marks``: see the module docstring. Must be called from the thread that will wait
    for the child (ptrace ties the two).

    >>> import pathlib, tempfile
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> t = trace(lambda: (d / "a").write_bytes(b"x"), d)
    >>> [e.syscall for e in t.events][:2]
    ['openat', 'write']
    """
    watch, pages, arch = Watch(watch_dir), Pages(page), current_arch()
    initial = read_tree(watch, pages)
    program = seccomp.assemble(arch, TABLE) if mode == "seccomp" else b""
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        _child(workload, program)
    with contextlib.suppress(OSError):
        os.setpgid(pid, pid)
    mark_path = os.path.realpath(os.fspath(marks)) if marks is not None else None
    tracer = _Tracer(pid, arch, Decoder(watch, pages, mark_path), stop_at, after, mode, observe)
    with _watchdog(tracer, timeout):
        try:
            tracer.run()
        except BaseException:  # an observer's error: no tracee may outlive the trace
            tracer._kill()
            raise
    seconds = time.monotonic() - started
    return Trace(watch.root, tuple(sorted(tracer.events, key=lambda e: e.seq)),
                 tuple(p.event for p in tracer.pending.values()), tracer.stopped_at,
                 tracer.crashed, tracer.status, initial, read_tree(watch, pages),
                 tracer.stops, seconds, tracer.timed_out, pid)


def _child(workload: Workload, program: bytes) -> None:  # pragma: no cover - the child
    code = 1
    try:
        os.setpgid(0, 0)
        ptrace.traceme()
        os.kill(os.getpid(), signal.SIGSTOP)  # the parent sets its options meanwhile
        if program:
            seccomp.install(program)
        if callable(workload):
            workload()
            code = 0
        else:
            argv = list(workload)
            os.execvp(argv[0], argv)
    except BaseException:
        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


@contextlib.contextmanager
def _watchdog(tracer: _Tracer, timeout: float | None) -> Iterator[None]:
    if timeout is None:
        yield
        return

    def expire() -> None:
        tracer.timed_out = tracer.crashed = True
        with contextlib.suppress(OSError):
            os.killpg(tracer.pid, signal.SIGKILL)

    timer = threading.Timer(timeout, expire)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


@dataclass
class _Tracer:
    """The wait loop: one ptrace stop at a time, until every tracee is gone."""

    pid: int
    arch: Arch
    decoder: Decoder
    stop_at: StopAt
    after: bool
    mode: Mode
    observe: Observer | None = None
    events: list[Event] = field(default_factory=list)
    pending: dict[int, Pending] = field(default_factory=dict)
    stopped_at: Event | None = None
    crashed: bool = False
    timed_out: bool = False
    status: int | None = None
    stops: int = 0
    seq: int = 0
    live: set[int] = field(default_factory=set)
    fresh: set[int] = field(default_factory=set)
    inside: set[int] = field(default_factory=set)
    tgids: dict[int, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.names = self.arch.names()
        self.regs = ptrace.registers(self.arch)

    def run(self) -> None:
        _, status = os.waitpid(self.pid, ptrace.WALL)
        if not os.WIFSTOPPED(status):  # the child died before it could be traced
            self.status = _exit_code(status)
            return
        ptrace.set_options(self.pid)
        self.live.add(self.pid)
        self._resume(self.pid)
        while self.live:
            try:
                tid, status = os.waitpid(-self.pid, ptrace.WALL)
            except ChildProcessError:
                break
            self.stops += 1
            if os.WIFEXITED(status) or os.WIFSIGNALED(status):
                self.live.discard(tid)
                self.status = _exit_code(status) if tid == self.pid else self.status
            elif os.WIFSTOPPED(status):
                self.live.add(tid)
                self._stopped(tid, os.WSTOPSIG(status), (status >> 16) & 0xFF)
            if self.crashed:
                self._kill()

    def _stopped(self, tid: int, sig: int, event: int) -> None:
        if sig == ptrace.SYSCALL_TRAP:
            if self.mode == "syscall" and tid not in self.inside:
                self.inside.add(tid)
                self._enter(tid)
            else:  # under seccomp, the tracer asks for exit stops only
                self.inside.discard(tid)
                self._leave(tid)
        elif sig == signal.SIGTRAP and event == ptrace.EVENT_SECCOMP:
            self._enter(tid)
        elif sig == signal.SIGTRAP and event in (ptrace.EVENT_FORK, ptrace.EVENT_VFORK,
                                                 ptrace.EVENT_CLONE):
            self.fresh.add(ptrace.event_message(tid))
            self._resume(tid)
        elif sig == signal.SIGTRAP and event:  # exec, or another event: nothing to record
            self._resume(tid)
        elif sig == signal.SIGSTOP and (tid in self.fresh or tid not in self.tgids):
            self.fresh.discard(tid)  # a new task's first stop, or the child's own
            self.tgids.setdefault(tid, _tgid(tid))
            self._resume(tid)
        else:
            self._resume(tid, sig)

    def _enter(self, tid: int) -> None:
        regs = self.regs.read(tid)
        name = self.names.get(int(regs[self.arch.nr]))
        args = tuple(int(regs[i]) for i in self.arch.args)
        pending = None
        if name is not None:
            tgid = self.tgids.get(tid) or self.tgids.setdefault(tid, _tgid(tid))
            pending = self.decoder.enter(self.seq, name, tgid, tid, args)
        if pending is None:
            self._resume(tid)
            return
        self.seq += 1
        self.pending[tid] = pending
        if self.observe is not None:
            self.observe(pending.event, False)
        if not self.after and self._stops_here(pending.event):
            self.stopped_at, self.crashed = pending.event, True
            return
        ptrace.syscall(tid)

    def _leave(self, tid: int) -> None:
        pending = self.pending.pop(tid, None)
        if pending is not None:
            result = s64(int(self.regs.read(tid)[self.arch.ret]))
            event = self.decoder.leave(pending, result)
            self.events.append(event)
            if self.observe is not None:
                self.observe(event, True)
            if self.after and self._stops_here(event):
                self.stopped_at, self.crashed = event, True
                return
        self._resume(tid)

    def _stops_here(self, event: Event) -> bool:
        if self.stop_at is None:
            return False
        if isinstance(self.stop_at, int):
            return event.seq == self.stop_at
        return self.stop_at(event)

    def _resume(self, tid: int, sig: int = 0) -> None:
        step = ptrace.syscall if self.mode == "syscall" or tid in self.pending else ptrace.cont
        try:
            step(tid, sig)
        except OSError:
            self.live.discard(tid)  # killed meanwhile: its exit status is on the way

    def _kill(self) -> None:
        """SIGKILL every tracee (the process group and each traced process), then reap."""
        with contextlib.suppress(OSError):
            os.killpg(self.pid, signal.SIGKILL)
        for tgid in {*self.tgids.values(), self.pid}:
            with contextlib.suppress(OSError):
                os.kill(tgid, signal.SIGKILL)
        while True:
            try:
                tid, status = os.waitpid(-self.pid, ptrace.WALL)
            except ChildProcessError:
                break
            if tid == self.pid and (os.WIFEXITED(status) or os.WIFSIGNALED(status)):
                self.status = _exit_code(status)
        self.live.clear()


def _exit_code(status: int) -> int:
    return os.WEXITSTATUS(status) if os.WIFEXITED(status) else -os.WTERMSIG(status)


def _tgid(tid: int) -> int:
    try:
        with open(f"/proc/{tid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"Tgid:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return tid
