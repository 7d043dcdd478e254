"""Folds a trace into what a power cut at its end could find, per file and per directory:
durable bytes and size at the last sync, the pages written since, and the names changed
since the directory's last sync, in order. The input of a power-loss image builder."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from warmtier.testing.crash.trace.events import (
    NAMESPACE,
    DirImage,
    Event,
    FileImage,
    Mmap,
    Open,
    Rename,
    Resize,
    Sync,
    Write,
)
from warmtier.testing.crash.trace.tracer import Trace

__all__ = ["DirState", "FileState", "Ledger", "ledger"]


@dataclass(frozen=True)
class FileState:
    """One file (an inode) at the end of a trace.

    ``durable`` and ``durable_size`` are as of its last sync (the baseline for a file that
    was there before the workload; empty and 0 for a file never synced; ranges made durable
    by msync or sync_file_range patched in). ``written`` holds the numbers of the pages (of
    ``page`` bytes) that a write, truncation or allocation touched since: any version of
    them may be on disk. ``changed`` holds the pages where ``current`` differs from
    ``durable``, which also catches stores through a shared mapping (``mapped``), which
    no syscall shows."""

    inode: int
    path: str | None  # its name at the end (or its last known name if unlinked)
    page: int
    durable: bytes
    durable_size: int
    synced_at: int | None  # seq of the last sync; -1 for the baseline, None if never
    written: frozenset[int]
    changed: frozenset[int]
    current: bytes
    mapped: bool

    @property
    def dirty(self) -> frozenset[int]:
        """Pages whose on-disk content a power cut leaves uncertain."""
        return self.written | self.changed


@dataclass(frozen=True)
class DirState:
    """One directory at the end of a trace: its names as of its last sync (the baseline if
    never synced) and every namespace event in it since, in order."""

    path: str
    durable: Mapping[str, int]  # name -> inode
    synced_at: int | None
    since: tuple[Event, ...]
    current: Mapping[str, int]


@dataclass(frozen=True)
class Ledger:
    files: Mapping[int, FileState]  # by inode
    dirs: Mapping[str, DirState]  # by path relative to the watched directory

    def by_path(self) -> dict[str, FileState]:
        return {f.path: f for f in self.files.values() if f.path is not None}


@dataclass
class _File:
    path: str | None
    durable: bytearray = field(default_factory=bytearray)
    durable_size: int = 0
    synced_at: int | None = None
    size: int = 0
    written: set[int] = field(default_factory=set)
    mapped: bool = False


def _pages(offset: int, length: int, page: int) -> range:
    return range(offset // page, -(-(offset + length) // page)) if length > 0 else range(0)


class _Folder:
    def __init__(self, trace: Trace, page: int) -> None:
        self.page = page
        self.files: dict[int, _File] = {}
        self.dirs: dict[str, tuple[dict[str, int], int | None, list[Event]]] = {}
        for image in trace.initial.files.values():
            self._synced(image, -1)
        for d in trace.initial.dirs.values():
            self.dirs[d.path] = (d.names(), -1, [])

    def file(self, inode: int, path: str | None) -> _File:
        f = self.files.setdefault(inode, _File(path))
        f.path = path if path is not None else f.path
        return f

    def _synced(self, image: FileImage, seq: int) -> None:
        f = self.file(image.inode, image.path)
        data = image.data
        if image.whole:
            f.durable, f.durable_size = bytearray(data), image.size
            f.written.clear()
        else:
            end = image.offset + len(data)
            f.durable.extend(bytes(max(0, end - len(f.durable))))
            f.durable[image.offset:end] = data
            f.written -= set(_pages(image.offset, len(data), self.page))
        f.size, f.synced_at = max(f.size, image.size), seq

    def _dir_synced(self, image: DirImage, seq: int) -> None:
        self.dirs[image.path] = (image.names(), seq, [])

    def _named(self, event: Event, *paths: str | None) -> None:
        for path in {p.rpartition("/")[0] or "." for p in paths if p is not None}:
            self.dirs.setdefault(path, ({}, None, []))[2].append(event)

    def fold(self, event: Event) -> None:
        if isinstance(event, Sync):
            for image in event.files:
                self._synced(image, event.seq)
            for d in event.dirs:
                self._dir_synced(d, event.seq)
        elif isinstance(event, Write):
            f = self.file(event.inode, event.path)
            span = (event.offset, event.length) if event.offset >= 0 else (0, event.size)
            f.written.update(_pages(*span, self.page))
            f.size = event.size
        elif isinstance(event, Resize):
            f = self.file(event.inode, event.path)
            lo, hi = sorted((f.size, event.size))
            f.written.update(_pages(lo, hi - lo, self.page))
            if event.mode:  # fallocate: punching or zeroing a range changes its bytes
                f.written.update(_pages(event.offset, event.length, self.page))
            f.size = event.size
        elif isinstance(event, Open) and event.truncated:
            f = self.file(event.inode, event.path)
            f.written.update(_pages(0, f.size, self.page))
            f.size = 0
        elif isinstance(event, Mmap):
            self.file(event.inode, event.path).mapped = True
        if isinstance(event, NAMESPACE) and not (isinstance(event, Open) and not event.created):
            self._named(event, event.path, event.new_path if isinstance(event, Rename) else None)


def _changed(durable: bytes, current: bytes, page: int) -> frozenset[int]:
    n = -(-max(len(durable), len(current)) // page)
    return frozenset(i for i in range(n)
                     if durable[i * page:(i + 1) * page] != current[i * page:(i + 1) * page])


def ledger(trace: Trace, page: int = 4096) -> Ledger:
    """Fold ``trace`` (its completed, successful calls) into per-file and per-directory
    states, with pages of ``page`` bytes (4096, or 512 for sector-sized tearing)."""
    folder = _Folder(trace, page)
    for event in trace.events:
        if event.ok:
            folder.fold(event)
    final = {image.inode: image for image in trace.final.files.values()}
    for inode, image in final.items():
        folder.file(inode, image.path)
    files = {}
    for inode, f in folder.files.items():
        current = final[inode].data if inode in final else b""
        path = final[inode].path if inode in final else f.path
        durable = bytes(f.durable)
        files[inode] = FileState(inode, path, page, durable, f.durable_size, f.synced_at,
                                 frozenset(f.written), _changed(durable, current, page),
                                 current, f.mapped)
    dirs = {}
    for path, (names, seq, since) in folder.dirs.items():
        now = trace.final.dirs.get(path)
        dirs[path] = DirState(path, names, seq, tuple(since), now.names() if now else {})
    return Ledger(files, dirs)
