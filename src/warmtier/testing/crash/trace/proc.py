"""What the tracer reads of a stopped tracee and of the watched directory through /proc
and the filesystem: descriptor targets and positions, strings, mappings, file images."""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from warmtier.testing.crash.trace.events import DirImage, FileImage

__all__ = [
    "AT_FDCWD",
    "Mapped",
    "Pages",
    "Tree",
    "Watch",
    "dir_image",
    "fd_flags",
    "fd_path",
    "fd_pos",
    "fd_stat",
    "mappings",
    "read_mem",
    "read_string",
    "read_tree",
    "read_u64",
    "resolve",
    "s32",
    "s64",
]

AT_FDCWD = -100
_DELETED = " (deleted)"


def s32(value: int) -> int:
    """The low 32 bits of a register as a signed int (a file descriptor argument)."""
    return ((value & 0xFFFFFFFF) ^ 0x80000000) - 0x80000000


def s64(value: int) -> int:
    """A register as a signed 64-bit int (a syscall result, a -1 offset)."""
    return ((value & 0xFFFFFFFFFFFFFFFF) ^ (1 << 63)) - (1 << 63)


class Watch:
    """The watched directory: which absolute paths are under it, and their relative names."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = os.path.realpath(os.fspath(root))
        self.device = os.stat(self.root).st_dev

    def rel(self, path: str | None) -> str | None:
        """``path`` relative to the root (``"."`` for the root), ``None`` outside it."""
        if path is None:
            return None
        if path == self.root:
            return "."
        if path.startswith(self.root + "/"):
            return path[len(self.root) + 1:]
        return None

    def abs(self, rel: str) -> str:
        return self.root if rel == "." else os.path.join(self.root, rel)


def fd_path(tid: int, fd: int) -> str | None:
    """The absolute path ``fd`` of ``tid`` refers to (its last name, if unlinked), or
    ``None`` for a pipe, socket, anonymous inode or closed descriptor."""
    try:
        target = os.readlink(f"/proc/{tid}/fd/{fd}")
    except OSError:
        return None
    if not target.startswith("/"):
        return None
    return target.removesuffix(_DELETED)


def fd_stat(tid: int, fd: int) -> os.stat_result | None:
    try:
        return os.stat(f"/proc/{tid}/fd/{fd}")
    except OSError:
        return None


def fd_flags(tid: int, fd: int) -> int:
    """The open flags of ``fd`` of ``tid`` (from /proc/<tid>/fdinfo), 0 if unknown."""
    try:
        with open(f"/proc/{tid}/fdinfo/{fd}", "rb") as f:
            for line in f:
                if line.startswith(b"flags:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    return 0


def fd_pos(tid: int, fd: int) -> int | None:
    """The file position of ``fd`` of ``tid`` (from /proc/<tid>/fdinfo)."""
    try:
        with open(f"/proc/{tid}/fdinfo/{fd}", "rb") as f:
            first = f.readline()
    except OSError:
        return None
    return int(first.split()[1]) if first.startswith(b"pos:") else None


def read_mem(tid: int, address: int, size: int) -> bytes:
    """``size`` bytes at ``address`` in the memory of ``tid`` (fewer at a mapping's end)."""
    fd = os.open(f"/proc/{tid}/mem", os.O_RDONLY)
    try:
        return os.pread(fd, size, address)
    finally:
        os.close(fd)


def read_string(tid: int, address: int, limit: int = 8192) -> str:
    """The NUL-terminated string at ``address`` in ``tid`` (read up to page boundaries, so
    never past the end of its mapping)."""
    out = b""
    while len(out) < limit:
        chunk = read_mem(tid, address + len(out), 4096 - (address + len(out)) % 4096)
        end = chunk.find(b"\0")
        if end >= 0 or not chunk:
            out += chunk[:end] if end >= 0 else chunk
            break
        out += chunk
    return os.fsdecode(out)


def read_u64(tid: int, address: int) -> int:
    return int.from_bytes(read_mem(tid, address, 8), "little")


def resolve(tid: int, dirfd: int, raw: str) -> str | None:
    """The absolute path a path argument names (relative to ``dirfd`` or the cwd), with
    symbolic links resolved in every component but the last, or ``None`` if unknown."""
    if not raw.startswith("/"):
        if dirfd == AT_FDCWD:
            try:
                base: str | None = os.readlink(f"/proc/{tid}/cwd")
            except OSError:
                return None
        else:
            base = fd_path(tid, dirfd)
        if base is None:
            return None
        raw = os.path.join(base, raw)
    head, tail = os.path.split(os.path.normpath(raw))
    return os.path.join(os.path.realpath(head), tail) if tail else os.path.realpath(head)


@dataclass(frozen=True)
class Mapped:
    """One line of /proc/<pid>/maps that maps a file."""

    start: int
    end: int
    offset: int
    inode: int
    path: str


def mappings(tid: int) -> list[Mapped]:
    out: list[Mapped] = []
    with open(f"/proc/{tid}/maps", "rb") as f:
        for line in f:
            parts = line.split(maxsplit=5)
            if len(parts) < 6 or not parts[5].startswith(b"/"):
                continue
            start, end = (int(x, 16) for x in parts[0].split(b"-"))
            path = os.fsdecode(parts[5].rstrip(b"\n")).removesuffix(_DELETED)
            out.append(Mapped(start, end, int(parts[2], 16), int(parts[4]), path))
    return out


class Pages:
    """Reads file images, sharing each unchanged page with the last image of the same
    inode, so thousands of syncs of a growing file cost memory for the changes only."""

    def __init__(self, page: int = 4096) -> None:
        if page % 8:
            raise ValueError(f"page size {page} is not a multiple of 8")
        self.page = page
        self._last: dict[int, tuple[int, bytes, tuple[bytes, ...]]] = {}

    def image(self, rel: str, source: str, inode: int, offset: int = 0,
              length: int | None = None) -> FileImage:
        """An image of ``source`` (a path or /proc/<tid>/fd/<fd>): the whole file, or the
        pages covering ``length`` bytes from ``offset`` (to the end when ``None``)."""
        with open(source, "rb", buffering=0) as f:
            size = os.fstat(f.fileno()).st_size
            first = offset - offset % self.page
            end = size if length is None else min(size, offset + length)
            end = min(size, -(-end // self.page) * self.page)
            f.seek(first)
            data = f.readall() if length is None else f.read(max(0, end - first))
        return FileImage(rel, inode, first, size, self._share(inode, first, data or b""))

    def _share(self, inode: int, first: int, data: bytes) -> tuple[bytes, ...]:
        """``data`` cut into pages, reusing the page objects of the last image of ``inode``
        where the bytes are the same."""
        page = self.page
        last_first, last_data, last_pages = self._last.get(inode, (-1, b"", ()))
        same = np.zeros(0, bool)
        if last_first == first:
            full = min(len(data), len(last_data)) // page
            now = np.frombuffer(data, np.uint64, full * page // 8).reshape(full, page // 8)
            old = np.frombuffer(last_data, np.uint64, full * page // 8).reshape(full, page // 8)
            same = (now == old).all(axis=1)
        reuse = same.tolist()
        pages = tuple(last_pages[i] if i < len(reuse) and reuse[i] else data[i * page:(i + 1) * page]
                      for i in range(-(-len(data) // page)))
        self._last[inode] = (first, data, pages)
        return pages


def dir_image(rel: str, path: str) -> DirImage:
    entries = []
    with os.scandir(path) as it:
        for entry in it:
            entries.append((entry.name, entry.inode()))
    return DirImage(rel, os.stat(path).st_ino, tuple(sorted(entries)))


@dataclass(frozen=True)
class Tree:
    """Every regular file and directory under the watched directory, as images."""

    files: Mapping[str, FileImage]
    dirs: Mapping[str, DirImage]

    def data(self) -> dict[str, bytes]:
        """Relative path -> bytes, for every regular file."""
        return {path: image.data for path, image in self.files.items()}


def read_tree(watch: Watch, pages: Pages) -> Tree:
    files: dict[str, FileImage] = {}
    dirs: dict[str, DirImage] = {}
    for top, _subdirs, _names in os.walk(watch.root):
        rel = watch.rel(top) or "."
        dirs[rel] = dir_image(rel, top)
        for name, inode in dirs[rel].entries:
            path = os.path.join(top, name)
            try:
                if stat.S_ISREG(os.lstat(path).st_mode):
                    files[watch.rel(path) or name] = pages.image(watch.rel(path) or name,
                                                                 path, inode)
            except FileNotFoundError:
                continue
    return Tree(files, dirs)
