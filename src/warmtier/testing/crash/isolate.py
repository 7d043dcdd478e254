"""Run the store under test in a child process, so that a signal (SIGBUS, SIGABRT, SIGSEGV),
a hang or an exception there becomes an :class:`Outcome` to report, not the end of pytest.

Why a ``multiprocessing`` *forkserver* context, and one long-lived child per
:class:`Isolated`: forking the pytest process itself would copy its threads' locks (xdist's
execnet thread, BLAS pools) into a child that may then deadlock, the hazard the kill
harness avoids with its own fork server; ``spawn`` pays an interpreter start and every
import per child. The forkserver is a fresh single-threaded interpreter that has imported
numpy and warmtier once (:data:`PRELOAD`); a child forked from it costs a few
milliseconds, and it then serves many calls over a pipe (one per fuzzed file set or
power-loss image), so only a death costs a new fork. Calls are top-level functions
(pickled by reference) with picklable arguments.

>>> with Isolated() as worker:
...     worker.call(pow, 2, 10).value
1024
"""

from __future__ import annotations

import contextlib
import faulthandler
import itertools
import multiprocessing
import os
import re
import shutil
import signal
import tempfile
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from typing import Any, Literal

from warmtier.testing.subject import scratch_dir

__all__ = [
    "KEEP_ENV",
    "PRELOAD",
    "Isolated",
    "Outcome",
    "keep_input",
    "run_isolated",
]

#: Where the inputs of deaths are kept (default: ``reports/crash-inputs`` under the cwd).
KEEP_ENV = "WARMTIER_CRASH_INPUTS"
#: Modules the forkserver imports once, so that each child starts warm.
PRELOAD = ["numpy", "warmtier", "warmtier.store", "warmtier.model",
           "warmtier.testing.crash.fuzz", "warmtier.testing.crash.powerloss"]
#: Seconds a call may run before it counts as a hang.
DEFAULT_TIMEOUT = 120.0
_STACK_FILE = "stack.txt"

Kind = Literal["ok", "raised", "signal", "exit", "timeout"]


@dataclass(frozen=True)
class Outcome:
    """How one isolated call ended: ``ok`` (``value`` holds the result), ``raised``
    (``error`` and ``traceback``), or a death: ``signal`` (``signal``, e.g. ``"SIGBUS"``),
    ``exit`` (the child called ``os._exit``: ``exit_code``) or ``timeout`` (killed).
    ``stack`` is the child's Python stack at its death, ``kept`` where its input is kept."""

    kind: Kind
    value: Any = None
    error: str = ""
    traceback: str = ""
    signal: str = ""
    exit_code: int | None = None
    stack: str = ""
    kept: str = ""

    @property
    def ok(self) -> bool:
        return self.kind == "ok"

    @property
    def died(self) -> bool:
        """Whether the child process ended during the call (signal, exit or hang)."""
        return self.kind in ("signal", "exit", "timeout")

    def describe(self) -> str:
        """One line: what happened, e.g. ``killed by SIGBUS (Bus error)``."""
        if self.kind == "ok":
            return "returned"
        if self.kind == "raised":
            return f"raised {self.error}"
        if self.kind == "signal":
            number = getattr(signal, self.signal, None)
            text = signal.strsignal(number) if number is not None else None
            return f"killed by {self.signal}" + (f" ({text})" if text else "")
        if self.kind == "exit":
            return f"exited with status {self.exit_code} in the middle of a call"
        return f"hung: {self.error or 'no answer in time'}, killed"

    def report(self, what: str, replay: str = "") -> str:
        """The failure text of a death or an error: what the store was doing, how it
        ended, the kept input, the child's stack, and the replay command."""
        lines = [f"the store {self.describe()} while {what}"]
        if self.kept:
            lines.append(f"  input kept for inspection in {self.kept}")
        # faulthandler prints the innermost frame first, a traceback prints it last
        lines_of = [line for line in (self.stack if self.died else self.traceback)
                    .strip().splitlines() if line.strip()]
        tail = lines_of[:12] if self.died else lines_of[-12:]
        if tail:
            lines.append("  the child's stack at the end:")
            lines += [f"    {line}" for line in tail]
        if replay:
            lines.append(f"replay: {replay}")
        return "\n".join(lines)


def _context() -> Any:
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    return ctx


def _serve(conn: Connection, workdir: str) -> None:
    """The child: answer ``(fn, args, kwargs)`` requests until the pipe closes."""
    stack = open(os.path.join(workdir, _STACK_FILE), "w")  # noqa: SIM115 - lives as long as we do
    faulthandler.enable(stack, all_threads=True)
    faulthandler.register(signal.SIGUSR1, stack, all_threads=True)
    while True:
        try:
            fn, args, kwargs = conn.recv()
        except EOFError:
            return
        try:
            reply: tuple[Any, ...] = ("ok", fn(*args, **kwargs))
        except BaseException as exc:
            reply = ("raised", f"{type(exc).__name__}: {exc}", traceback.format_exc())
        try:
            conn.send(reply)
        except Exception as exc:  # an unpicklable result
            conn.send(("raised", f"{type(exc).__name__}: cannot send the result back: {exc}",
                       traceback.format_exc()))


class Isolated:
    """One child process that runs calls for this one; a call that kills it (or hangs
    and is killed) returns a death :class:`Outcome`, and the next call starts a new
    child. ``workdir`` is a scratch directory for the child's files, removed however the
    child and this object end (emptied after each death)."""

    def __init__(self, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.timeout = timeout
        self.deaths = 0
        self._exit = contextlib.ExitStack()
        self.workdir = self._exit.enter_context(scratch_dir("warmtier-isolated-"))
        self._counter = itertools.count()
        self._proc: Any = None
        self._conn: Connection | None = None

    def __enter__(self) -> Isolated:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the child (it ends when its pipe closes) and remove the scratch directory."""
        conn, proc, self._conn, self._proc = self._conn, self._proc, None, None
        if conn is not None:
            conn.close()
        if proc is not None:
            proc.join(10)
            if proc.exitcode is None:
                proc.kill()
                proc.join()
        self._exit.close()

    def _start(self) -> Connection:
        if self._conn is None:
            ctx = _context()
            mine, theirs = ctx.Pipe()
            self._proc = ctx.Process(target=_serve, args=(theirs, self.workdir),
                                     name="warmtier-isolated", daemon=True)
            self._proc.start()
            theirs.close()
            self._conn = mine
        return self._conn

    def call(self, fn: Callable[..., Any], *args: Any, timeout: float | None = None,
             keep: str | None = None, **kwargs: Any) -> Outcome:
        """``fn(*args, **kwargs)`` in the child. On a death the directory ``keep`` (if
        given) is copied to the kept inputs first (see :func:`keep_input`)."""
        conn = self._start()
        try:
            conn.send((fn, args, kwargs))
            limit = self.timeout if timeout is None else timeout
            if not conn.poll(limit):
                return replace(self._death(keep, hung=True), error=f"no answer in {limit:g} s")
            reply = conn.recv()
        except (EOFError, BrokenPipeError, ConnectionResetError):
            return self._death(keep)
        if reply[0] == "ok":
            return Outcome("ok", value=reply[1])
        return Outcome("raised", error=reply[1], traceback=reply[2])

    def call_on_files(self, files: Mapping[str, bytes], fn: Callable[..., Any], *args: Any,
                      label: str = "input", **kwargs: Any) -> Outcome:
        """Write ``files`` into a new directory and call ``fn(directory, *args)`` in the
        child; the directory is removed after. On a death the files as given (not as
        the store left them) are kept, and ``Outcome.kept`` says where."""
        where = os.path.join(self.workdir, f"in-{next(self._counter)}")
        path = os.path.join(where, "store")
        os.makedirs(path)
        try:
            for name, data in files.items():  # names may hold subdirectories
                os.makedirs(os.path.dirname(os.path.join(path, name)), exist_ok=True)
                with open(os.path.join(path, name), "wb") as f:
                    f.write(data)
            outcome = self.call(fn, path, *args, **kwargs)
        finally:
            shutil.rmtree(where, ignore_errors=True)
        if outcome.died:
            outcome = replace(outcome, kept=keep_input(files, label))
        return outcome

    def _death(self, keep: str | None, *, hung: bool = False) -> Outcome:
        """Reap the dead (or hung) child, read its last stack, empty the scratch dir."""
        proc, conn, self._proc, self._conn = self._proc, self._conn, None, None
        self.deaths += 1
        if hung:
            with contextlib.suppress(OSError):
                os.kill(proc.pid, signal.SIGUSR1)  # a stack dump of the hang first
            proc.join(1)
            proc.kill()
        proc.join()
        assert conn is not None
        conn.close()
        stack = _read(os.path.join(self.workdir, _STACK_FILE))
        kept = keep_input(keep, "child") if keep and os.path.exists(keep) else ""
        _empty(self.workdir)
        code = proc.exitcode
        if hung:
            return Outcome("timeout", stack=stack, kept=kept)
        if code is not None and code < 0:
            return Outcome("signal", signal=signal.Signals(-code).name, stack=stack, kept=kept)
        return Outcome("exit", exit_code=code, stack=stack, kept=kept)


def _empty(directory: str) -> None:
    """Remove what a dead child left in ``directory``."""
    for entry in os.scandir(directory):
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)


def _read(path: str) -> str:
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def run_isolated(fn: Callable[..., Any], *args: Any, timeout: float = DEFAULT_TIMEOUT,
                 **kwargs: Any) -> Outcome:
    """``fn(*args, **kwargs)`` in a child of its own (one call: use :class:`Isolated` to
    batch many)."""
    with Isolated(timeout=timeout) as worker:
        return worker.call(fn, *args, **kwargs)


def keep_input(source: Mapping[str, bytes] | str, label: str) -> str:
    """Copy an input that killed the store (a mapping of file names to bytes, or a
    directory) to a new directory under ``$WARMTIER_CRASH_INPUTS`` (default
    ``reports/crash-inputs``); its absolute path."""
    root = os.path.abspath(os.environ.get(KEEP_ENV) or os.path.join("reports", "crash-inputs"))
    os.makedirs(root, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", label).strip("-")[:80] or "input"
    dest = tempfile.mkdtemp(prefix=f"{safe}-", dir=root)
    if isinstance(source, str):
        shutil.copytree(source, os.path.join(dest, os.path.basename(source) or "dir"),
                        symlinks=True, dirs_exist_ok=True)
    else:
        for name, data in source.items():
            os.makedirs(os.path.dirname(os.path.join(dest, name)), exist_ok=True)
            with open(os.path.join(dest, name), "wb") as f:
                f.write(data)
    return dest


@contextlib.contextmanager
def worker_or(worker: Isolated | None) -> Iterator[Isolated]:
    """``worker`` itself, or a new one for the block."""
    if worker is not None:
        yield worker
        return
    with Isolated() as made:
        yield made
