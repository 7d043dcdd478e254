"""The syscall table: every syscall the tracer watches, its number on each architecture,
and where each architecture keeps the syscall number, arguments and result."""

from __future__ import annotations

import platform
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = [
    "AARCH64",
    "ARCHES",
    "KIND",
    "TABLE",
    "X86_64",
    "Arch",
    "current_arch",
]

#: name -> (x86_64 number, aarch64 number or None where the syscall does not exist there).
#: The one place syscall numbers live.
TABLE: Mapping[str, tuple[int, int | None]] = {
    # durability
    "fsync": (74, 82),
    "fdatasync": (75, 83),
    "msync": (26, 227),
    "sync_file_range": (277, 84),
    "syncfs": (306, 267),
    "sync": (162, 81),
    # creation and truncation at open
    "open": (2, None),
    "creat": (85, None),
    "openat": (257, 56),
    "openat2": (437, 437),
    # namespace
    "rename": (82, None),
    "renameat": (264, 38),
    "renameat2": (316, 276),
    "unlink": (87, None),
    "unlinkat": (263, 35),
    "rmdir": (84, None),
    "mkdir": (83, None),
    "mkdirat": (258, 34),
    "link": (86, None),
    "linkat": (265, 37),
    "symlink": (88, None),
    "symlinkat": (266, 36),
    # size
    "truncate": (76, 45),
    "ftruncate": (77, 46),
    "fallocate": (285, 47),
    # data
    "write": (1, 64),
    "pwrite64": (18, 68),
    "writev": (20, 66),
    "pwritev": (296, 70),
    "pwritev2": (328, 287),
    "copy_file_range": (326, 285),
    "sendfile": (40, 71),
    # mappings and descriptors
    "mmap": (9, 222),
    "close": (3, 57),
    "dup": (32, 23),
    "dup2": (33, None),
    "dup3": (292, 24),
    "fcntl": (72, 25),  # F_DUPFD and F_DUPFD_CLOEXEC only
}

#: What each syscall is, for the decoder's dispatch.
KIND: Mapping[str, str] = {
    "fsync": "sync", "fdatasync": "sync", "msync": "msync", "sync_file_range": "range",
    "syncfs": "syncall", "sync": "syncall",
    "open": "open", "creat": "open", "openat": "open", "openat2": "open",
    "rename": "rename", "renameat": "rename", "renameat2": "rename",
    "unlink": "unlink", "unlinkat": "unlink", "rmdir": "unlink",
    "mkdir": "mkdir", "mkdirat": "mkdir",
    "link": "link", "linkat": "link", "symlink": "link", "symlinkat": "link",
    "truncate": "resize", "ftruncate": "resize", "fallocate": "resize",
    "write": "write", "pwrite64": "write", "writev": "write", "pwritev": "write",
    "pwritev2": "write", "copy_file_range": "write", "sendfile": "write",
    "mmap": "mmap", "close": "close", "dup": "dup", "dup2": "dup", "dup3": "dup",
    "fcntl": "dup",
}


@dataclass(frozen=True)
class Arch:
    """Where one architecture keeps things in the ``NT_PRSTATUS`` register set (indices of
    64-bit words), its ``AUDIT_ARCH_*`` value for seccomp, and its syscall numbers."""

    name: str
    audit: int
    words: int  # 64-bit words in the NT_PRSTATUS register set
    nr: int
    args: tuple[int, int, int, int, int, int]
    ret: int
    x32_bit: int | None  # syscalls with this bit set belong to another ABI
    numbers: Mapping[str, int] = field(default_factory=dict)

    def names(self) -> dict[int, str]:
        """Syscall number -> name, for the syscalls in the table this architecture has."""
        return {nr: name for name, nr in self.numbers.items()}


def _numbers(column: int) -> dict[str, int]:
    return {name: nrs[column] for name, nrs in TABLE.items() if nrs[column] is not None}  # type: ignore[misc]


# x86_64 user_regs_struct: r15 r14 r13 r12 rbp rbx r11 r10 r9 r8 rax rcx rdx rsi rdi
# orig_rax rip cs eflags rsp ss fs_base gs_base ds es fs gs.
X86_64 = Arch("x86_64", 0xC000003E, 27, nr=15, args=(14, 13, 12, 7, 9, 8), ret=10,
              x32_bit=0x40000000, numbers=_numbers(0))
# aarch64 user_pt_regs: x0..x30 sp pc pstate; the number in x8, the result in x0 (which
# overwrites the first argument at syscall exit: the tracer saves arguments at entry).
AARCH64 = Arch("aarch64", 0xC00000B7, 34, nr=8, args=(0, 1, 2, 3, 4, 5), ret=0,
               x32_bit=None, numbers=_numbers(1))

ARCHES: Mapping[str, Arch] = {"x86_64": X86_64, "aarch64": AARCH64, "arm64": AARCH64}


def current_arch() -> Arch:
    """The table of this machine, or ``RuntimeError`` on an architecture without one."""
    machine = platform.machine()
    try:
        return ARCHES[machine]
    except KeyError:
        raise RuntimeError(
            f"the syscall tracer has no table for {machine!r}; add one to "
            "warmtier.testing.crash.trace.syscalls (x86_64 and aarch64 are known)"
        ) from None
