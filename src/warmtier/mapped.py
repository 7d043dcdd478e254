"""One memory-mapped file that can grow: a numpy.memmap, its fd, growth and durability.

Growth reserves real blocks with ``posix_fallocate`` before remapping, so a full disk is
an ENOSPC here (turned into CapacityError) and never a SIGBUS on a later write. Writers
map pages ahead a chunk at a time (:meth:`MappedFile.prefault`) instead of taking one
page fault per page.
"""

from __future__ import annotations

import ctypes
import errno
import os

import numpy as np
import numpy.typing as npt

from warmtier.errors import CapacityError
from warmtier.failpoints import failpoint

__all__ = ["PREFAULT_BYTES", "MappedFile", "prefault_works"]

#: Bytes mapped ahead per system call by :meth:`MappedFile.prefault`.
PREFAULT_BYTES = 1 << 20
_PAGE = os.sysconf("SC_PAGE_SIZE")
_MADV_POPULATE_WRITE = 23  # Linux 5.14; EINVAL before, and then nothing is mapped ahead
_libc = ctypes.CDLL(None, use_errno=True)
_madvise = getattr(_libc, "madvise", None)
#: The errors that say the call is not there (rather than that this one call failed).
_UNSUPPORTED = (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EPERM)


class _Prefault:
    """Whether ``madvise(MADV_POPULATE_WRITE)`` works here (it stops being tried once it
    fails)."""

    works = _madvise is not None


def prefault_works() -> bool:
    """Whether :meth:`MappedFile.prefault` maps anything here."""
    return _Prefault.works


class MappedFile:
    """A file mapped read-write; ``u8`` is a plain ndarray view of all its bytes."""

    def __init__(self, path: str, *, create_size: int | None = None, name: str = "file") -> None:
        self.path = path
        self.name = name
        flags = os.O_RDWR | (os.O_CREAT | os.O_EXCL if create_size is not None else 0)
        self.fd = os.open(path, flags, 0o644)
        try:
            if create_size is not None:
                _reserve(self.fd, create_size)
            self.size = os.fstat(self.fd).st_size
            self.u8: npt.NDArray[np.uint8] = _map(path, self.size)
        except BaseException:
            os.close(self.fd)
            raise

    def grow(self, new_size: int) -> None:
        """Extend the file to ``new_size`` bytes and remap; CapacityError if the disk is full."""
        old = self.size
        try:
            failpoint(f"grow.{self.name}.before_extend")
            _reserve(self.fd, new_size)
            failpoint(f"grow.{self.name}.before_remap")
        except OSError as exc:
            self._truncate_back(old)
            if exc.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
                raise CapacityError(
                    f"cannot grow {self.path} to {new_size} bytes: {os.strerror(exc.errno)}"
                ) from exc
            raise
        except BaseException:
            self._truncate_back(old)
            raise
        self.u8 = _map(self.path, new_size)
        self.size = new_size

    def shrink(self, size: int, u8: npt.NDArray[np.uint8]) -> None:
        """Undo a :meth:`grow`: back to ``size`` bytes and ``u8``, the mapping it had (a
        failed truncate leaves the file longer, which nothing reads)."""
        self._truncate_back(size)
        self.u8, self.size = u8, size

    def prefault(self, start: int, stop: int) -> None:
        """Map the pages of bytes ``[start, stop)`` writable in one system call, as writing
        them would, page fault by page fault (3 to 5 us each on a VM, measured; this call
        takes a fraction of that per page). The bytes are unchanged; only speed depends
        on it, so a kernel without ``MADV_POPULATE_WRITE`` just takes the faults. Safe on
        any thread (:mod:`warmtier.prefetch` calls it on its own)."""
        u8 = self.u8  # held through the call: a remap or close does not unmap it under us
        start -= start % _PAGE
        stop = min(stop, u8.size)
        if stop <= start or not _Prefault.works or _madvise is None:
            return
        if _madvise(ctypes.c_void_p(u8.ctypes.data + start), ctypes.c_size_t(stop - start),
                    _MADV_POPULATE_WRITE) != 0 and ctypes.get_errno() in _UNSUPPORTED:
            _Prefault.works = False

    def _truncate_back(self, old: int) -> None:
        try:
            if os.fstat(self.fd).st_size != old:
                os.ftruncate(self.fd, old)
        except OSError:
            pass

    def sync(self) -> None:
        """msync the mapping and fsync the file (data and size)."""
        base = self.u8.base
        if isinstance(base, np.memmap):
            base.flush()
        os.fsync(self.fd)

    def close(self) -> None:
        """Drop the mapping and the fd (no sync)."""
        self.u8 = np.zeros(0, np.uint8)
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _reserve(fd: int, size: int) -> None:
    current = os.fstat(fd).st_size
    if size > current:
        os.posix_fallocate(fd, current, size - current)
    elif size < current:
        os.ftruncate(fd, size)


def _map(path: str, size: int) -> npt.NDArray[np.uint8]:
    mm = np.memmap(path, dtype=np.uint8, mode="r+", shape=(size,))
    view: npt.NDArray[np.uint8] = mm.view(np.ndarray)
    return view
