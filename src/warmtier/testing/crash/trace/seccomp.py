"""The seccomp-BPF filter that makes the traced child stop only at the watched syscalls:
assembled from the syscall table, installed by the child before it runs the workload."""

from __future__ import annotations

import ctypes
import struct
from collections.abc import Iterable

from warmtier.testing.crash.trace.syscalls import Arch

__all__ = ["CONDITIONS", "EQUALS", "assemble", "install"]

_LD_ABS, _JEQ, _JGE, _JSET, _RET = 0x20, 0x15, 0x35, 0x45, 0x06
_RET_ALLOW, _RET_TRACE = 0x7FFF0000, 0x7FF00000
_NR, _ARCH = 0, 4  # offsets in struct seccomp_data


def _arg(index: int) -> int:
    return 16 + 8 * index  # the low 32 bits of args[index] (little endian)


_O_CREAT, _O_TRUNC, _O_TMPFILE = 0o100, 0o1000, 0o20000000
_MAP_SHARED, _MAP_ANONYMOUS = 0x01, 0x20

#: Syscalls traced only when an argument has some bits: name -> (argument index, any of
#: these bits, none of these bits). Opens that cannot create or truncate, and private or
#: anonymous mappings (which no msync can write back), never stop the tracee.
CONDITIONS: dict[str, tuple[int, int, int]] = {
    "open": (1, _O_CREAT | _O_TRUNC | _O_TMPFILE, 0),
    "openat": (2, _O_CREAT | _O_TRUNC | _O_TMPFILE, 0),
    "mmap": (3, _MAP_SHARED, _MAP_ANONYMOUS),
}

#: Syscalls traced only when an argument equals one of some values: fcntl only when it
#: duplicates a descriptor (F_DUPFD, F_DUPFD_CLOEXEC).
EQUALS: dict[str, tuple[int, tuple[int, ...]]] = {"fcntl": (1, (0, 1030))}

Insn = tuple[int, str | int, str | int, int]  # code, jump-if-true, jump-if-false, k


def _program(arch: Arch, names: Iterable[str]) -> list[Insn | str]:
    """The filter with symbolic jump targets (labels are bare strings in the list)."""
    prog: list[Insn | str] = [(_LD_ABS, 0, 0, _ARCH), (_JEQ, 0, "allow", arch.audit),
                              (_LD_ABS, 0, 0, _NR)]
    if arch.x32_bit is not None:
        prog.append((_JGE, "allow", 0, arch.x32_bit))
    wanted = sorted(n for n in set(names) if n in arch.numbers)
    for name in wanted:
        target = f"if-{name}" if name in CONDITIONS or name in EQUALS else "trace"
        prog.append((_JEQ, target, 0, arch.numbers[name]))
    prog.append((_RET, 0, 0, _RET_ALLOW))
    for name in wanted:  # jumps only go forward: the shared returns come last
        if name in CONDITIONS:
            index, some, none = CONDITIONS[name]
            prog += [f"if-{name}", (_LD_ABS, 0, 0, _arg(index)), (_JSET, 0, "allow", some)]
            prog.append((_JSET, "allow", "trace", none) if none else (_RET, 0, 0, _RET_TRACE))
        elif name in EQUALS:
            index, values = EQUALS[name]
            prog += [f"if-{name}", (_LD_ABS, 0, 0, _arg(index))]
            prog += [(_JEQ, "trace", 0, v) for v in values] + [(_RET, 0, 0, _RET_ALLOW)]
    return [*prog, "allow", (_RET, 0, 0, _RET_ALLOW), "trace", (_RET, 0, 0, _RET_TRACE)]


def assemble(arch: Arch, names: Iterable[str]) -> bytes:
    """The BPF program (``struct sock_filter[]``) that returns SECCOMP_RET_TRACE for the
    syscalls ``names`` of ``arch`` and allows every other syscall."""
    prog = _program(arch, names)
    labels: dict[str, int] = {}
    insns: list[Insn] = []
    for item in prog:
        if isinstance(item, str):
            labels[item] = len(insns)
        else:
            insns.append(item)
    out = bytearray()
    for i, (code, jt, jf, k) in enumerate(insns):
        jumps = [labels[j] - i - 1 if isinstance(j, str) else j for j in (jt, jf)]
        if not all(0 <= j < 256 for j in jumps):
            raise ValueError(f"BPF jump out of range at instruction {i}: {jumps}")
        out += struct.pack("<HBBI", code, jumps[0], jumps[1], k)
    return bytes(out)


class _Fprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


_PR_SET_NO_NEW_PRIVS, _PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 38, 22, 2


def install(program: bytes) -> None:
    """Install ``program`` on the calling thread (and so every thread and child it makes).
    Only call it once a tracer is attached: a SECCOMP_RET_TRACE without one fails the call."""
    libc = ctypes.CDLL(None, use_errno=True)
    buf = ctypes.create_string_buffer(program, len(program))
    fprog = _Fprog(len(program) // 8, ctypes.addressof(buf))
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
    if libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER)")
