"""Folds a trace into what a power cut at its end (or at any event: :class:`Folder`) could
find, per file and per directory: durable bytes and size at the last sync, the pages and
sizes written since, and the names changed since the directory's last sync, in order."""

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
from warmtier.testing.crash.trace.proc import Tree
from warmtier.testing.crash.trace.tracer import Trace

__all__ = ["WEAK_SYNCS", "DirState", "FileState", "Folder", "Ledger", "ledger"]

#: Syncs that make a range durable on Linux but are no ``fsync`` (strict mode ignores them).
WEAK_SYNCS = ("msync", "sync_file_range")


@dataclass(frozen=True)
class FileState:
    """One file (an inode) at the end of a trace.

    ``durable`` and ``durable_size`` are as of its last sync (the baseline for a file that
    was there before the workload; empty and 0 for a file never synced; ranges made durable
    by msync or sync_file_range patched in). ``written`` holds the numbers of the pages (of
    ``page`` bytes) that a write, truncation or allocation touched since: any version of
    them may be on disk. ``changed`` holds the pages where ``current`` differs from
    ``durable``, which also catches stores through a shared mapping (``mapped``), which
    no syscall shows. ``sizes`` are the sizes it had since its last sync, in order (writes
    past the end, truncations, allocations); ``last_sync`` the call that synced it last
    (a sync, or a write through ``O_DSYNC``; ``None`` for the baseline or never); ``born``
    the ``seq`` of the open that created it."""

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
    sizes: tuple[int, ...] = ()
    last_sync: Event | None = None
    born: int | None = None

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
    #: by inode; a negative key is an earlier file whose inode a new file reused
    files: Mapping[int, FileState]
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
    sizes: list[int] = field(default_factory=list)
    last_sync: Event | None = None
    born: int | None = None

    def resized(self, size: int) -> None:
        if size != self.size:
            self.sizes.append(size)
        self.size = size


def _pages(offset: int, length: int, page: int) -> range:
    return range(offset // page, -(-(offset + length) // page)) if length > 0 else range(0)


def _changed(durable: bytes, current: bytes, page: int) -> frozenset[int]:
    n = -(-max(len(durable), len(current)) // page)
    return frozenset(i for i in range(n)
                     if durable[i * page:(i + 1) * page] != current[i * page:(i + 1) * page])


class Folder:
    """Folds events one at a time from ``initial`` (the baseline, all durable);
    :meth:`snapshot` is the ledger as of the events folded so far. ``strict`` counts only
    the ``fsync`` family as durability (not :data:`WEAK_SYNCS`)."""

    def __init__(self, initial: Tree, page: int = 4096, *, strict: bool = False) -> None:
        self.page = page
        self.strict = strict
        self.files: dict[int, _File] = {}
        self.dirs: dict[str, tuple[dict[str, int], int | None, list[Event]]] = {}
        self._retired = -1
        for image in initial.files.values():
            self._synced(image, -1, None)
        for d in initial.dirs.values():
            self.dirs[d.path] = (d.names(), -1, [])

    def file(self, inode: int, path: str | None) -> _File:
        f = self.files.setdefault(inode, _File(path))
        f.path = path if path is not None else f.path
        return f

    def _synced(self, image: FileImage, seq: int, sync: Event | None) -> None:
        f = self.file(image.inode, image.path)
        data = image.data
        f.last_sync = sync
        if image.whole:
            f.durable, f.durable_size = bytearray(data), image.size
            f.written.clear()
            f.sizes.clear()
            f.size = image.size
        else:
            end = image.offset + len(data)
            f.durable.extend(bytes(max(0, end - len(f.durable))))
            f.durable[image.offset:end] = data
            f.written -= set(_pages(image.offset, len(data), self.page))
        f.size, f.synced_at = max(f.size, image.size), seq

    def _retire(self, inode: int) -> None:
        """Keep the earlier file of a reused inode under a negative key, and point the
        durable names that still name it there."""
        old = self.files.pop(inode, None)
        if old is None:
            return
        key, self._retired = self._retired, self._retired - 1
        self.files[key] = old
        for names, _, _ in self.dirs.values():
            for name in [n for n, i in names.items() if i == inode]:
                names[name] = key

    def _dir_synced(self, image: DirImage, seq: int) -> None:
        self.dirs[image.path] = (image.names(), seq, [])

    def _named(self, event: Event, *paths: str | None) -> None:
        for path in {p.rpartition("/")[0] or "." for p in paths if p is not None}:
            self.dirs.setdefault(path, ({}, None, []))[2].append(event)

    def fold(self, event: Event) -> None:
        """Apply one event (a failed call, or a weak sync in strict mode, changes nothing)."""
        if not event.ok or (self.strict and event.syscall in WEAK_SYNCS):
            return
        if isinstance(event, Open) and event.created:  # a new file, even on a reused inode
            self._retire(event.inode)
            self.files[event.inode] = _File(event.path, born=event.seq)
        if isinstance(event, Sync):
            for image in event.files:
                self._synced(image, event.seq, event)
            for d in event.dirs:
                self._dir_synced(d, event.seq)
        elif isinstance(event, Write):
            f = self.file(event.inode, event.path)
            span = (event.offset, event.length) if event.offset >= 0 else (0, event.size)
            f.written.update(_pages(*span, self.page))
            f.resized(event.size)
            if event.image is not None:  # O_DSYNC: these pages and the size are durable
                self._synced(event.image, event.seq, event)
                f.durable_size = max(f.durable_size, event.offset + event.length)
        elif isinstance(event, Resize):
            f = self.file(event.inode, event.path)
            lo, hi = sorted((f.size, event.size))
            f.written.update(_pages(lo, hi - lo, self.page))
            if event.mode:  # fallocate: punching or zeroing a range changes its bytes
                f.written.update(_pages(event.offset, event.length, self.page))
            f.resized(event.size)
        elif isinstance(event, Open) and event.truncated:
            f = self.file(event.inode, event.path)
            f.written.update(_pages(0, f.size, self.page))
            f.resized(0)
        elif isinstance(event, Mmap):
            self.file(event.inode, event.path).mapped = True
        if isinstance(event, NAMESPACE) and not (isinstance(event, Open) and not event.created):
            self._named(event, event.path, event.new_path if isinstance(event, Rename) else None)


    def snapshot(self, current: Tree) -> Ledger:
        """The ledger as of now, ``current`` being the watched directory now."""
        final = {image.inode: image for image in current.files.values()}
        for inode, image in final.items():
            self.file(inode, image.path)
        files = {}
        for inode, f in self.files.items():
            durable = bytes(f.durable)
            # a file no longer named holds what it durably held, as far as anyone can see
            now = final[inode].data if inode in final else durable
            path = final[inode].path if inode in final else f.path
            files[inode] = FileState(inode, path, self.page, durable, f.durable_size,
                                     f.synced_at, frozenset(f.written),
                                     _changed(durable, now, self.page), now, f.mapped,
                                     tuple(f.sizes), f.last_sync, f.born)
        dirs = {}
        for path, (names, seq, since) in self.dirs.items():
            d = current.dirs.get(path)
            dirs[path] = DirState(path, dict(names), seq, tuple(since), d.names() if d else {})
        return Ledger(files, dirs)


def ledger(trace: Trace, page: int = 4096, *, strict: bool = False) -> Ledger:
    """Fold ``trace`` (its completed, successful calls) into per-file and per-directory
    states, with pages of ``page`` bytes (4096, or 512 for sector-sized tearing)."""
    folder = Folder(trace.initial, page, strict=strict)
    for event in trace.events:
        folder.fold(event)
    return folder.snapshot(trace.final)
