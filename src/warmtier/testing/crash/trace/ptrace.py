"""The few ptrace(2) requests the tracer makes, through ctypes on libc, and the decoding of
the wait statuses they produce."""

from __future__ import annotations

import ctypes
import os
import signal

from warmtier.testing.crash.trace.syscalls import Arch

__all__ = [
    "EVENT_CLONE",
    "EVENT_EXEC",
    "EVENT_FORK",
    "EVENT_SECCOMP",
    "EVENT_STOP",
    "EVENT_VFORK",
    "OPTIONS",
    "SYSCALL_TRAP",
    "WALL",
    "cont",
    "event_message",
    "registers",
    "set_options",
    "syscall",
    "traceme",
]

_TRACEME, _CONT, _SYSCALL = 0, 7, 24
_SETOPTIONS, _GETEVENTMSG, _GETREGSET = 0x4200, 0x4201, 0x4204
_NT_PRSTATUS = 1

_O_TRACESYSGOOD, _O_TRACEFORK, _O_TRACEVFORK, _O_TRACECLONE = 0x1, 0x2, 0x4, 0x8
_O_TRACEEXEC, _O_TRACESECCOMP, _O_EXITKILL = 0x10, 0x80, 0x100000
#: Follow every thread and child, report exec and seccomp stops, kill the tracees if the
#: tracer dies (a tracee whose filter asks for a tracer must never run without one).
OPTIONS = (_O_TRACESYSGOOD | _O_TRACEFORK | _O_TRACEVFORK | _O_TRACECLONE | _O_TRACEEXEC
           | _O_TRACESECCOMP | _O_EXITKILL)

EVENT_FORK, EVENT_VFORK, EVENT_CLONE, EVENT_EXEC, EVENT_SECCOMP, EVENT_STOP = 1, 2, 3, 4, 7, 128
#: The stop signal of a syscall stop under PTRACE_O_TRACESYSGOOD.
SYSCALL_TRAP = signal.SIGTRAP | 0x80
#: waitpid option: wait for threads too (``__WALL``; Python does not export it).
WALL = 0x40000000

_libc = ctypes.CDLL(None, use_errno=True)
_ptrace = _libc.ptrace
_ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
_ptrace.restype = ctypes.c_long


class _Iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


def _call(request: int, tid: int, addr: int | None, data: int | object | None) -> int:
    ctypes.set_errno(0)
    result = int(_ptrace(request, tid, addr, data))
    if result == -1 and ctypes.get_errno():
        err = ctypes.get_errno()
        raise OSError(err, f"ptrace({request:#x}, {tid}): {os.strerror(err)}")
    return result


def traceme() -> None:
    """In the child: let the parent trace this process."""
    _call(_TRACEME, 0, None, None)


def set_options(tid: int) -> None:
    _call(_SETOPTIONS, tid, None, OPTIONS)


def cont(tid: int, sig: int = 0) -> None:
    """Resume ``tid`` until its next seccomp, event or signal stop."""
    _call(_CONT, tid, None, sig)


def syscall(tid: int, sig: int = 0) -> None:
    """Resume ``tid`` until its next syscall stop (from a seccomp stop: the exit of that call)."""
    _call(_SYSCALL, tid, None, sig)


def event_message(tid: int) -> int:
    """The message of a ptrace event stop (the new task's id for clone, fork and vfork)."""
    out = ctypes.c_ulong(0)
    _call(_GETEVENTMSG, tid, None, ctypes.addressof(out))
    return int(out.value)


class Registers:
    """A reusable register buffer for one architecture (no allocation per stop)."""

    def __init__(self, arch: Arch) -> None:
        self.arch = arch
        self._words = (ctypes.c_uint64 * arch.words)()
        self._iov = _Iovec(ctypes.addressof(self._words), ctypes.sizeof(self._words))
        self._iov_addr = ctypes.addressof(self._iov)

    def read(self, tid: int) -> ctypes.Array[ctypes.c_uint64]:
        """The registers of the stopped ``tid`` (valid until the next ``read``)."""
        self._iov.len = ctypes.sizeof(self._words)
        _call(_GETREGSET, tid, _NT_PRSTATUS, self._iov_addr)
        return self._words


def registers(arch: Arch) -> Registers:
    return Registers(arch)
