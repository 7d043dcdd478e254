"""The disk images a power cut can leave at one crash point, built from the syscall ledger:
per file its durable bytes plus any subset of the pages written since; names in order.

Per file: the bytes its last sync made durable (a partial ``msync`` or ``sync_file_range``
patched in), plus any subset of its dirty pages (``unit`` bytes each: 4096, or 512 for
sector tearing) with their current bytes. Its size is one it had since that sync (a
truncation shrinks, it never zeroes; bytes past the durable size that no chosen page covers
read as zeros). Per directory tree: the names as of each directory's last sync, then a
prefix of the namespace changes since (creations, renames, unlinks, in the order they were
made), never a change without the ones before it.

>>> disk = Disk(folder.snapshot(tree))                        # doctest: +SKIP
>>> [image.label for image in disk.images(rng, 2)]            # doctest: +SKIP
['all', 'none', 'headers', 'no-headers', 'old sizes', ..., 'random #0', 'random #1']
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from warmtier.testing.crash.trace.events import Event, Link, Mkdir, Open, Rename, Unlink, Write
from warmtier.testing.crash.trace.ledger import FileState, Ledger

__all__ = ["Choice", "Disk", "Image"]


@dataclass(frozen=True)
class Choice:
    """How one image is chosen: ``kind`` is ``all``, ``none``, ``headers`` (only the first
    dirty page of each file), ``no-headers``, ``only``/``except`` (one file's pages alone,
    or all but its), ``old sizes`` (all pages, sizes as of each sync), ``old names`` (all
    pages, no namespace change since a directory sync) or ``random``."""

    kind: str
    target: str = ""
    number: int = 0

    @property
    def label(self) -> str:
        if self.kind == "random":
            return f"random #{self.number}"
        return f"{self.kind} {self.target}".strip()


@dataclass(frozen=True)
class Image:
    """One disk: its files (path -> bytes) and what it chose, one line per uncertain file
    and one for the names, each naming the system calls it depends on."""

    label: str
    files: dict[str, bytes]
    notes: tuple[str, ...]


def _syscall(sync: Event | None) -> str:
    if sync is None:
        return "the baseline"
    dsync = " through O_DSYNC" if isinstance(sync, Write) else ""
    return f"{sync.syscall}{dsync} (seq {sync.seq})"


class Disk:
    """Every image a power cut could leave, as of one :class:`Ledger` snapshot."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.files = ledger.files
        self.base: dict[str, int] = {}
        for d in ledger.dirs.values():
            for name, inode in d.durable.items():
                self.base[name if d.path == "." else f"{d.path}/{name}"] = inode
        events = {e.seq: e for d in ledger.dirs.values() for e in d.since}
        self.pending: list[Event] = [events[s] for s in sorted(events)]
        #: for each pending change, the directories not synced since it (a rename from a
        #: synced directory into another is pending in the second only)
        self.where: dict[int, set[str]] = {}
        for d in ledger.dirs.values():
            for e in d.since:
                self.where.setdefault(e.seq, set()).add(d.path)

    # -- what is uncertain ---------------------------------------------------------------

    def dirty(self, f: FileState) -> list[int]:
        return sorted(f.dirty)

    def sizes(self, f: FileState) -> list[int]:
        """The sizes the file may have on disk: its durable one, then each since."""
        return list(dict.fromkeys([f.durable_size, *f.sizes, len(f.current)]))

    def uncertain(self) -> list[FileState]:
        return [f for _, f in sorted(self.files.items())
                if f.path is not None and (f.dirty or len(self.sizes(f)) > 1)]

    def choices(self, random_images: int) -> list[Choice]:
        """The adversarial images, then ``random_images`` random ones (only ``all`` when
        nothing is uncertain)."""
        changed = sorted({str(f.path) for f in self.uncertain()})
        if not changed and not self.pending:
            return [Choice("all")]
        fixed = [Choice(k) for k in ("all", "none", "headers", "no-headers", "old sizes",
                                     "old names")]
        for path in changed if len(changed) > 1 else []:
            fixed += [Choice("only", path), Choice("except", path)]
        return fixed + [Choice("random", number=n) for n in range(random_images)]

    def images(self, rng: np.random.Generator, random_images: int) -> Iterator[Image]:
        for choice in self.choices(random_images):
            yield self.build(choice, rng)

    # -- building one image --------------------------------------------------------------

    def _pages(self, f: FileState, choice: Choice, dirty: list[int], rate: float,
               rng: np.random.Generator) -> list[int]:
        kind, mine = choice.kind, choice.target == f.path
        if kind in ("all", "old sizes", "old names") or (kind, mine) in (("only", True),
                                                                          ("except", False)):
            return dirty
        if kind == "headers":
            return dirty[:1]
        if kind == "no-headers":
            return dirty[1:]
        if kind == "random":
            return [p for p in dirty if rng.random() < rate]
        return []

    def _size(self, f: FileState, choice: Choice, rng: np.random.Generator) -> int:
        options, mine = self.sizes(f), choice.target == f.path
        if choice.kind in ("none", "old sizes") or (choice.kind, mine) in (("only", False),
                                                                            ("except", True)):
            return options[0]
        if choice.kind == "random":
            return options[int(rng.integers(len(options)))]
        return options[-1]

    def content(self, f: FileState, pages: list[int], size: int) -> bytes:
        """The durable bytes cut or zero-extended to ``size``, with ``pages`` current."""
        out = bytearray(f.durable[:size].ljust(size, b"\0"))
        unit = f.page
        for p in pages:
            lo, hi = p * unit, min((p + 1) * unit, size, len(f.current))
            if lo < hi:
                out[lo:hi] = f.current[lo:hi]
        return bytes(out)

    def build(self, choice: Choice, rng: np.random.Generator) -> Image:
        rate = float(rng.random())
        applied = {"none": 0, "old names": 0, "random": int(rng.integers(len(self.pending) + 1))
                   }.get(choice.kind, len(self.pending))
        names = self.names(applied)
        by_inode: dict[int, tuple[bytes, str]] = {}
        files: dict[str, bytes] = {}
        for path, inode in sorted(names.items()):
            f = self.files.get(inode)
            if f is None or not _parents_exist(path, names):
                continue
            if inode not in by_inode:
                dirty = self.dirty(f)
                pages, size = self._pages(f, choice, dirty, rate, rng), self._size(f, choice, rng)
                by_inode[inode] = (self.content(f, pages, size), self._note(f, pages, size))
            files[path] = by_inode[inode][0]
        notes = [note for _, note in by_inode.values() if note]
        if self.pending:
            notes.append(self._names_note(applied))
        return Image(choice.label, files, tuple(notes))

    def names(self, applied: int) -> dict[str, int]:
        """The names after the first ``applied`` pending namespace changes."""
        names = dict(self.base)
        for event in self.pending[:applied]:
            _apply(names, event, self.where[event.seq])
        return names

    # -- descriptions --------------------------------------------------------------------

    def _note(self, f: FileState, pages: list[int], size: int) -> str:
        dirty, sizes = self.dirty(f), self.sizes(f)
        if not dirty and len(sizes) == 1:
            return ""
        since = (f"since {_syscall(f.last_sync)}" if f.synced_at is not None
                 else f"never synced (created at seq {f.born})")
        shown = ",".join(map(str, pages)) or "none"
        size_note = (f"; size {size} of {'/'.join(map(str, sizes))}" if len(sizes) > 1
                     else "")
        return f"{f.path}: pages {shown} of {len(dirty)} dirty {since}{size_note}"

    def _names_note(self, applied: int) -> str:
        parts = []
        for n, event in enumerate(self.pending):
            d = self.ledger.dirs.get(_parent(_new_name(event) or ""))
            synced = ("never" if d is None or d.synced_at is None
                      else "baseline" if d.synced_at < 0 else f"seq {d.synced_at}")
            parts.append(f"{_describe(event)} {'applied' if n < applied else 'not applied'}"
                         f" (directory synced last: {synced})")
        return "names: " + "; ".join(parts)

    def syncs(self) -> list[str]:
        """The last observed sync of each file (for a failure's diagnosis)."""
        out = []
        for _, f in sorted(self.files.items()):
            if f.path is None:
                continue
            if f.synced_at is None:
                born = f"since it was created (seq {f.born})" if f.born is not None else ""
                out.append(f"no sync of {f.path!r} observed {born}".rstrip())
            else:
                out.append(f"{f.path}: last synced by {_syscall(f.last_sync)}")
        return out


def _parent(path: str) -> str:
    return path.rpartition("/")[0] or "."


def _parents_exist(path: str, names: dict[str, int]) -> bool:
    head = path.rpartition("/")[0]
    return not head or (head in names and _parents_exist(head, names))


def _new_name(event: Event) -> str | None:
    if isinstance(event, Rename):
        return event.new_path if event.new_path is not None else event.path
    return getattr(event, "path", None)


def _describe(event: Event) -> str:
    if isinstance(event, Rename):
        return f"rename {event.path}->{event.new_path} (seq {event.seq})"
    return f"{event.syscall} {getattr(event, 'path', '')} (seq {event.seq})"


def _move(names: dict[str, int], old: str, new: str | None, keep: bool = False) -> None:
    """Rename ``old`` (and, for a directory, every name under it) to ``new``, or drop it;
    ``keep`` leaves the old names too (their directory already lists them)."""
    for path in [p for p in names if p == old or p.startswith(old + "/")]:
        inode = names[path] if keep else names.pop(path)
        if new is not None:
            names[new + path[len(old):]] = inode


def _apply(names: dict[str, int], event: Event, dirs: set[str]) -> None:
    """Apply one namespace change to the directories in ``dirs`` (those it is pending in)."""
    if isinstance(event, Open):
        names[event.path] = event.inode
    elif isinstance(event, Rename):
        old, new = event.path, event.new_path
        new = new if new is not None and _parent(new) in dirs else None
        if old is not None and old in names:
            _move(names, old, new, keep=_parent(old) not in dirs)
        elif new is not None:
            names[new] = event.inode
    elif isinstance(event, Unlink):
        _move(names, event.path, None)
    elif isinstance(event, Mkdir):
        names[event.path] = 0
    elif isinstance(event, Link) and event.syscall in ("link", "linkat"):
        names[event.path] = names.get(event.target, 0)
