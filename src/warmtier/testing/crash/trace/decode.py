"""Turns a watched syscall into an event: at its entry (arguments, paths, the durable
images of a sync) and at its exit (the result, offsets and sizes known only then)."""

from __future__ import annotations

import dataclasses
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypedDict

from warmtier.testing.crash.trace import proc
from warmtier.testing.crash.trace.events import (
    Close,
    DirImage,
    Dup,
    Event,
    FileImage,
    Link,
    Mark,
    Mkdir,
    Mmap,
    Open,
    Rename,
    Resize,
    Sync,
    Unlink,
    Write,
)
from warmtier.testing.crash.trace.proc import AT_FDCWD, Pages, Watch, s32, s64
from warmtier.testing.crash.trace.syscalls import KIND

__all__ = ["Decoder", "Pending"]

_O_CREAT, _O_TRUNC, _O_TMPFILE = 0o100, 0o1000, 0o20000000
_MAP_SHARED, _MAP_ANONYMOUS = 0x01, 0x20
_MS_SYNC = 4
_O_DSYNC = 0o10000  # O_SYNC includes it
_RWF_DSYNC, _RWF_SYNC = 2, 4
_SFR_WRITE, _SFR_WAIT_AFTER = 2, 4
_AT_REMOVEDIR, _AT_EMPTY_PATH = 0x200, 0x1000
_F_DUPFD = (0, 1030)  # F_DUPFD, F_DUPFD_CLOEXEC

Args = tuple[int, ...]


@dataclass
class Pending:
    """A watched call that has entered the kernel: its event so far and what its exit needs."""

    event: Event
    args: Args
    existed: bool = False
    offset: int | None = None


class _Base(TypedDict):
    seq: int
    syscall: str
    pid: int
    tid: int


@dataclass(frozen=True)
class _Call:
    seq: int
    name: str
    pid: int
    tid: int
    args: Args

    def base(self) -> _Base:
        return {"seq": self.seq, "syscall": self.name, "pid": self.pid, "tid": self.tid}

    def fd(self, i: int) -> int:
        return s32(self.args[i])

    def path(self, dirfd_arg: int | None, path_arg: int) -> str | None:
        dirfd = AT_FDCWD if dirfd_arg is None else self.fd(dirfd_arg)
        return proc.resolve(self.tid, dirfd, proc.read_string(self.tid, self.args[path_arg]))


class Decoder:
    """Decodes the watched syscalls of the tracees into events about ``watch``, and each
    ``write`` to the file ``marks`` (outside it) into a :class:`Mark`."""

    def __init__(self, watch: Watch, pages: Pages, marks: str | None = None) -> None:
        self.watch = watch
        self.pages = pages
        self.marks = marks
        self._enter: dict[str, Callable[[_Call], Pending | None]] = {
            "open": self._open, "write": self._write, "resize": self._resize,
            "rename": self._rename, "unlink": self._unlink, "mkdir": self._mkdir,
            "link": self._link, "mmap": self._mmap, "close": self._fd_event,
            "dup": self._fd_event, "sync": self._fsync, "msync": self._msync,
            "range": self._sync_range, "syncall": self._sync_all,
        }

    def enter(self, seq: int, name: str, pid: int, tid: int, args: Args) -> Pending | None:
        """The event of a call entering the kernel (numbered ``seq``), or ``None`` when it
        touches nothing under the watched directory."""
        try:
            return self._enter[KIND[name]](_Call(seq, name, pid, tid, args))
        except (OSError, ValueError):
            return None  # the tracee vanished, or an argument pointed nowhere

    def leave(self, pending: Pending, result: int) -> Event:
        """The finished event of ``pending``, whose call returned ``result``."""
        ev = dataclasses.replace(pending.event, result=result)
        if isinstance(ev, Sync):
            return ev if ev.ok else dataclasses.replace(ev, files=(), dirs=())
        if not ev.ok:
            return ev
        if isinstance(ev, Open):
            st = proc.fd_stat(ev.tid, result)
            return dataclasses.replace(
                ev, fd=result, inode=st.st_ino if st else 0,
                created=not pending.existed,
                truncated=pending.existed and bool(ev.flags & _O_TRUNC))
        if isinstance(ev, Write):
            return self._wrote(ev, pending, result)
        if isinstance(ev, Resize):
            st = proc.fd_stat(ev.tid, ev.fd) if ev.fd >= 0 else _stat(self.watch.abs(ev.path))
            return dataclasses.replace(ev, size=st.st_size if st else -1)
        if isinstance(ev, Dup):
            return dataclasses.replace(ev, new_fd=result)
        return ev

    # -- entries ------------------------------------------------------------------------

    def _file(self, call: _Call, fd: int) -> tuple[str, int] | None:
        rel = self.watch.rel(proc.fd_path(call.tid, fd))
        if rel is None:
            return None
        st = proc.fd_stat(call.tid, fd)
        return rel, (st.st_ino if st else 0)

    def _open(self, call: _Call) -> Pending | None:
        name, a = call.name, call.args
        if name == "creat":
            path, flags = call.path(None, 0), os.O_CREAT | os.O_WRONLY | os.O_TRUNC
        elif name == "open":
            path, flags = call.path(None, 0), a[1]
        else:
            path = call.path(0, 1)
            flags = proc.read_u64(call.tid, a[2]) if name == "openat2" else a[2]
        rel = self.watch.rel(path)
        if rel is None or not flags & (_O_CREAT | _O_TRUNC | _O_TMPFILE):
            return None
        existed = path is not None and os.path.lexists(path)
        return Pending(Open(**call.base(), path=rel, flags=flags & 0xFFFFFFFF), a, existed)

    def _write(self, call: _Call) -> Pending | None:
        name, a = call.name, call.args
        fd = call.fd(2) if name == "copy_file_range" else call.fd(0)
        if self.marks is not None and name == "write" and proc.fd_path(call.tid, fd) == self.marks:
            label = proc.read_mem(call.tid, a[1], min(a[2], 256))
            return Pending(Mark(**call.base(), label=label.decode(errors="replace").strip()), a)
        found = self._file(call, fd)
        if found is None:
            return None
        offset: int | None = None
        if name in ("pwrite64", "pwritev", "pwritev2") and s64(a[3]) >= 0:
            offset = a[3]
        elif name == "copy_file_range" and a[3]:
            offset = proc.read_u64(call.tid, a[3])
        length = {"write": a[2], "pwrite64": a[2], "sendfile": a[3], "copy_file_range": a[4]}
        dsync = bool(proc.fd_flags(call.tid, fd) & _O_DSYNC) or (
            name == "pwritev2" and bool(a[5] & (_RWF_DSYNC | _RWF_SYNC)))
        ev = Write(**call.base(), path=found[0], fd=fd, inode=found[1],
                   offset=-1 if offset is None else offset, length=length.get(name, -1),
                   dsync=dsync)
        return Pending(ev, a, offset=offset)

    def _wrote(self, ev: Write, pending: Pending, written: int) -> Write:
        offset = pending.offset
        if offset is None:
            pos = proc.fd_pos(ev.tid, ev.fd)
            offset = -1 if pos is None else pos - written
        st = proc.fd_stat(ev.tid, ev.fd)
        image = None
        if ev.dsync and offset >= 0 and written > 0:
            image = self.pages.image(ev.path, f"/proc/{ev.tid}/fd/{ev.fd}", ev.inode, offset,
                                     written)
        return dataclasses.replace(ev, offset=offset, length=written,
                                   size=st.st_size if st else -1, image=image)

    def _resize(self, call: _Call) -> Pending | None:
        a = call.args
        if call.name == "truncate":
            path = call.path(None, 0)
            rel, fd = self.watch.rel(path), -1
            st = _stat(path) if rel is not None and path else None
            found = None if rel is None else (rel, st.st_ino if st else 0)
        else:
            fd = call.fd(0)
            found = self._file(call, fd)
        if found is None:
            return None
        if call.name == "fallocate":
            ev = Resize(**call.base(), path=found[0], fd=fd, inode=found[1], length=s64(a[3]),
                        offset=s64(a[2]), mode=s32(a[1]))
        else:
            ev = Resize(**call.base(), path=found[0], fd=fd, inode=found[1], length=s64(a[1]))
        return Pending(ev, a)

    def _rename(self, call: _Call) -> Pending | None:
        if call.name == "rename":
            old, new, flags = call.path(None, 0), call.path(None, 1), 0
        else:
            old, new = call.path(0, 1), call.path(2, 3)
            flags = s32(call.args[4]) if call.name == "renameat2" else 0
        rel_old, rel_new = self.watch.rel(old), self.watch.rel(new)
        if rel_old is None and rel_new is None:
            return None
        st = _stat(old, follow=False) if old else None
        return Pending(Rename(**call.base(), path=rel_old, new_path=rel_new,
                              inode=st.st_ino if st else 0, flags=flags), call.args)

    def _unlink(self, call: _Call) -> Pending | None:
        if call.name == "unlinkat":
            path, directory = call.path(0, 1), bool(call.args[2] & _AT_REMOVEDIR)
        else:
            path, directory = call.path(None, 0), call.name == "rmdir"
        rel = self.watch.rel(path)
        if rel is None or path is None:
            return None
        st = _stat(path, follow=False)
        return Pending(Unlink(**call.base(), path=rel, inode=st.st_ino if st else 0,
                              directory=directory), call.args)

    def _mkdir(self, call: _Call) -> Pending | None:
        rel = self.watch.rel(call.path(0, 1) if call.name == "mkdirat" else call.path(None, 0))
        return None if rel is None else Pending(Mkdir(**call.base(), path=rel), call.args)

    def _link(self, call: _Call) -> Pending | None:
        name, a = call.name, call.args
        if name == "symlink":
            target, new = proc.read_string(call.tid, a[0]), call.path(None, 1)
        elif name == "symlinkat":
            target, new = proc.read_string(call.tid, a[0]), call.path(1, 2)
        elif name == "link":
            target, new = call.path(None, 0) or "", call.path(None, 1)
        else:
            new = call.path(2, 3)
            empty = bool(a[4] & _AT_EMPTY_PATH) and not proc.read_string(call.tid, a[1])
            target = (proc.fd_path(call.tid, call.fd(0)) if empty else call.path(0, 1)) or ""
        rel = self.watch.rel(new)
        if rel is None:
            return None
        target = self.watch.rel(target) or target if name in ("link", "linkat") else target
        return Pending(Link(**call.base(), path=rel, target=target), a)

    def _mmap(self, call: _Call) -> Pending | None:
        a = call.args
        if not a[3] & _MAP_SHARED or a[3] & _MAP_ANONYMOUS:
            return None
        found = self._file(call, call.fd(4))
        if found is None:
            return None
        return Pending(Mmap(**call.base(), path=found[0], fd=call.fd(4), inode=found[1],
                            length=a[1], offset=a[5], prot=s32(a[2]), flags=s32(a[3])), a)

    def _fd_event(self, call: _Call) -> Pending | None:
        if call.name == "fcntl" and call.args[1] not in _F_DUPFD:
            return None
        fd = call.fd(0)
        found = self._file(call, fd)
        if found is None:
            return None
        kind = Close if call.name == "close" else Dup
        return Pending(kind(**call.base(), path=found[0], fd=fd, inode=found[1]), call.args)

    def _fsync(self, call: _Call) -> Pending | None:
        fd = call.fd(0)
        path = proc.fd_path(call.tid, fd)
        rel = self.watch.rel(path)
        st = proc.fd_stat(call.tid, fd)
        if rel is None or path is None or st is None:
            return None
        files: tuple[FileImage, ...] = ()
        dirs: tuple[DirImage, ...] = ()
        if stat.S_ISDIR(st.st_mode):
            dirs = (proc.dir_image(rel, path),)
        elif stat.S_ISREG(st.st_mode):
            files = (self.pages.image(rel, f"/proc/{call.tid}/fd/{fd}", st.st_ino),)
        return Pending(Sync(**call.base(), path=rel, fd=fd, files=files, dirs=dirs), call.args)

    def _msync(self, call: _Call) -> Pending | None:
        start, length, flags = call.args[0], call.args[1], s32(call.args[2])
        files = []
        for m in proc.mappings(call.tid):
            rel = self.watch.rel(m.path)
            lo, hi = max(start, m.start), min(start + length, m.end)
            if rel is None or lo >= hi:
                continue
            source = f"/proc/{call.tid}/map_files/{m.start:x}-{m.end:x}"
            files.append(self.pages.image(rel, source, m.inode, m.offset + lo - m.start, hi - lo))
        if not files:
            return None
        durable = tuple(files) if flags & _MS_SYNC else ()
        return Pending(Sync(**call.base(), path=files[0].path, offset=start, length=length,
                            flags=flags, files=durable), call.args)

    def _sync_range(self, call: _Call) -> Pending | None:
        fd, offset, nbytes, flags = call.fd(0), s64(call.args[1]), s64(call.args[2]), s32(call.args[3])
        found = self._file(call, fd)
        if found is None:
            return None
        files: tuple[FileImage, ...] = ()
        if flags & _SFR_WRITE and flags & _SFR_WAIT_AFTER:
            source = f"/proc/{call.tid}/fd/{fd}"
            files = (self.pages.image(found[0], source, found[1], offset, nbytes or None),)
        return Pending(Sync(**call.base(), path=found[0], fd=fd, offset=offset, length=nbytes,
                            flags=flags, files=files), call.args)

    def _sync_all(self, call: _Call) -> Pending | None:
        fd = call.fd(0) if call.name == "syncfs" else -1
        if fd >= 0:
            st = proc.fd_stat(call.tid, fd)
            if st is None or st.st_dev != self.watch.device:
                return None
        tree = proc.read_tree(self.watch, self.pages)
        path = self.watch.rel(proc.fd_path(call.tid, fd)) if fd >= 0 else None
        return Pending(Sync(**call.base(), path=path, fd=fd, files=tuple(tree.files.values()),
                            dirs=tuple(tree.dirs.values())), call.args)


def _stat(path: str | None, follow: bool = True) -> os.stat_result | None:
    if path is None:
        return None
    try:
        return os.stat(path, follow_symlinks=follow)
    except OSError:
        return None
