"""The trace's vocabulary: one frozen dataclass per kind of durability-relevant syscall,
and the file and directory images that a sync made durable.

Paths are relative to the watched directory (``"."`` is the directory itself); ``None``
stands for a path outside it (a rename out of the directory, say). ``result`` is the
syscall's return value, a negative errno on failure, ``None`` for a call that never
returned (the crash point's, or another thread's in flight when the child was killed).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "NAMESPACE",
    "Close",
    "DirImage",
    "Dup",
    "Event",
    "FileImage",
    "Link",
    "Mark",
    "Mkdir",
    "Mmap",
    "Open",
    "Rename",
    "Resize",
    "Sync",
    "Unlink",
    "Write",
]


@dataclass(frozen=True)
class FileImage:
    """Bytes of one file: ``data`` from ``offset`` (the whole file when ``offset`` is 0 and
    ``len(data) == size``), and the file's ``size`` when they were read. ``pages`` share
    storage with earlier images of the same file, so a long trace stays small."""

    path: str
    inode: int
    offset: int
    size: int
    pages: tuple[bytes, ...]

    @property
    def data(self) -> bytes:
        return b"".join(self.pages)

    @property
    def whole(self) -> bool:
        return self.offset == 0 and sum(map(len, self.pages)) == self.size


@dataclass(frozen=True)
class DirImage:
    """The names of one directory and the inode each refers to."""

    path: str
    inode: int
    entries: tuple[tuple[str, int], ...]  # (name, inode), sorted by name

    def names(self) -> dict[str, int]:
        return dict(self.entries)


@dataclass(frozen=True, kw_only=True)
class Event:
    """One observed syscall on something under the watched directory."""

    seq: int
    syscall: str
    pid: int
    tid: int
    result: int | None = None

    @property
    def ok(self) -> bool:
        """The call returned and succeeded."""
        return self.result is not None and self.result >= 0

    def describe(self) -> str:
        fields = {k: v for k, v in vars(self).items()
                  if k not in ("seq", "syscall", "pid", "tid", "result", "files", "dirs",
                               "image")}
        args = ", ".join(f"{k}={v!r}" for k, v in fields.items())
        return f"#{self.seq} [{self.tid}] {self.syscall}({args}) = {self.result}"


@dataclass(frozen=True, kw_only=True)
class Open(Event):
    """An open that may create or truncate (O_CREAT, O_TRUNC, O_TMPFILE)."""

    path: str
    flags: int
    fd: int = -1
    inode: int = 0
    created: bool = False
    truncated: bool = False


@dataclass(frozen=True, kw_only=True)
class Write(Event):
    """Bytes written to a file (write, pwrite64, writev, pwritev, pwritev2, sendfile,
    copy_file_range): ``length`` bytes at ``offset`` (``-1`` until known), and the file's
    ``size`` after the call. A write through a descriptor opened with ``O_DSYNC`` or
    ``O_SYNC`` (or a pwritev2 with ``RWF_DSYNC``/``RWF_SYNC``) is ``dsync``: durable when
    it returns, and ``image`` holds the pages it made durable, read before it returned."""

    path: str
    fd: int
    inode: int
    offset: int = -1
    length: int = -1
    size: int = -1
    dsync: bool = False
    image: FileImage | None = None


@dataclass(frozen=True, kw_only=True)
class Resize(Event):
    """truncate, ftruncate (``length``) or fallocate (``mode``, ``offset``, ``length``);
    ``size`` is the file's size after the call."""

    path: str
    fd: int
    inode: int
    length: int
    offset: int = 0
    mode: int = 0
    size: int = -1


@dataclass(frozen=True, kw_only=True)
class Rename(Event):
    path: str | None
    new_path: str | None
    inode: int
    flags: int = 0


@dataclass(frozen=True, kw_only=True)
class Unlink(Event):
    """unlink, unlinkat or rmdir (``directory``)."""

    path: str
    inode: int
    directory: bool = False


@dataclass(frozen=True, kw_only=True)
class Mkdir(Event):
    path: str


@dataclass(frozen=True, kw_only=True)
class Link(Event):
    """link, linkat or symlink(at): ``path`` is the new name, ``target`` what it names."""

    path: str
    target: str


@dataclass(frozen=True, kw_only=True)
class Mark(Event):
    """A ``write`` to the marks file (outside the watched directory): a label the workload
    writes between its steps, so that the tracer knows where the workload is."""

    label: str


@dataclass(frozen=True, kw_only=True)
class Mmap(Event):
    """A shared mapping of a file: ``length`` bytes from file ``offset`` at ``address``
    (the result, once known)."""

    path: str
    fd: int
    inode: int
    length: int
    offset: int
    prot: int
    flags: int

    @property
    def address(self) -> int | None:
        return self.result if self.ok else None


@dataclass(frozen=True, kw_only=True)
class Close(Event):
    path: str
    fd: int
    inode: int


@dataclass(frozen=True, kw_only=True)
class Dup(Event):
    """dup, dup2, dup3: ``new_fd`` (the result, once known) refers to ``path`` too."""

    path: str
    fd: int
    inode: int
    new_fd: int = -1


@dataclass(frozen=True, kw_only=True)
class Sync(Event):
    """fsync, fdatasync, msync, sync_file_range, syncfs or sync, and what it made durable:
    ``files`` (whole files, or ranges for msync and sync_file_range) and ``dirs`` (the
    namespace of each directory synced), read before the call returned. Empty for a call
    that makes nothing durable (msync without MS_SYNC, sync_file_range without
    SYNC_FILE_RANGE_WRITE|SYNC_FILE_RANGE_WAIT_AFTER) and for a call that failed."""

    path: str | None = None
    fd: int = -1
    offset: int = 0
    length: int = 0
    flags: int = 0
    files: tuple[FileImage, ...] = ()
    dirs: tuple[DirImage, ...] = ()

    @property
    def durable(self) -> bool:
        return self.ok and bool(self.files or self.dirs)

    def describe(self) -> str:
        made = [f"{f.path}[{f.offset}:{f.offset + sum(map(len, f.pages))}] of {f.size} B"
                for f in self.files] + [f"{d.path}/ {sorted(d.names())}" for d in self.dirs]
        return f"{super().describe()}  durable: {'; '.join(made) or 'nothing'}"


#: The events that change a directory's names (made durable by an fsync of the directory).
NAMESPACE = (Open, Rename, Unlink, Mkdir, Link)
