"""What an open store holds (files, views, slot table, free lists), shared by the store's
operations, its recovery, its compaction and its invariants, which are separate modules.
"""

from __future__ import annotations

import contextlib
import os
import threading
from typing import Any

import numpy as np

from warmtier import prefetch
from warmtier.allocator import ExtentAllocator
from warmtier.errors import StoreClosedError
from warmtier.format import (
    HEADER_SIZE,
    SLOT_FIXED,
    Header,
    content_name,
    embeddings_name,
    slot_dtype,
    slots_name,
)
from warmtier.mapped import PREFAULT_BYTES, MappedFile
from warmtier.slots import SlotTable

__all__ = ["StoreState"]


def _column(name: str, doc: str) -> Any:
    """A read-write attribute that is the slot table's column ``name``."""
    return property(lambda self: getattr(self._table, name),
                    lambda self, value: setattr(self._table, name, value), doc=doc)


def _due(ready: set[int], first: int, stop: int) -> list[tuple[int, int]]:
    """The chunks a writer of chunks ``[first, stop)`` has to map now or request, as runs
    ``(lo, hi)``, marked ready: those of ``[first, stop)`` not ready yet, one run each;
    then, when chunk ``stop - 1 + AHEAD`` is not ready, those up to ``AHEAD`` chunks past
    it in runs of neighbours. Requests top the lead up ``AHEAD`` chunks at a time, so a
    sequential writer requests once per ``AHEAD`` chunks: each request costs it a switch
    of the GIL (50-100 us measured) when the prefetch thread comes back for it.

    >>> ready: set[int] = set()
    >>> _due(ready, 0, 1)  # chunk 0 now, 1 to 32 ahead (AHEAD is 16)
    [(0, 1), (1, 33)]
    >>> [c for c in range(1, 60) if _due(ready, c, c + 1)]  # a writer of chunks 1 to 59
    [17, 34, 51]
    """
    due = [(c, c + 1) for c in range(first, stop) if c not in ready]
    ahead = stop - 1 + prefetch.AHEAD
    if ahead not in ready:
        todo = [c for c in range(stop, ahead + prefetch.AHEAD + 1) if c not in ready]
        for c in todo:
            if due and due[-1][1] == c and due[-1][0] >= stop:
                due[-1] = (due[-1][0], c + 1)
            else:
                due.append((c, c + 1))
    for lo, hi in due:
        ready.update(range(lo, hi))
    return due


class StoreState:
    """The state of an open store. Operations change it under ``_lock``.

    Slots are in exactly one role: live (in ``_index``), stale (an older version of a
    live id, valid on disk until the next sync), pending (dead on disk, reusable after the
    next sync) or free. Content extents are live, pending or free in ``_alloc``.
    """

    _path: str
    _header: Header
    _dim: int
    _dtype: np.dtype[Any]
    _slot_size: int
    _max_content: int
    _lock_fd: int
    _lock: threading.RLock
    _closed: bool
    # the files and views of them (refreshed by _remap when a file is mapped anew)
    _slots_file: MappedFile
    _emb_file: MappedFile | None  # None in formats 1 and 2 (embeddings inside the slots)
    _content_file: MappedFile
    _capacity: int
    _slots: Any  # structured view of the slot records
    _slot_bytes: Any
    _seqs: Any  # the published sequence number of each slot (0: unpublished)
    _embeddings: Any  # (capacity, dim) float32: dense rows, or a strided view of the slots
    _arena: Any
    _slots_mv: memoryview
    _emb_mv: memoryview  # holds slot i's embedding at _emb_base + i * _emb_stride
    _emb_base: int
    _emb_stride: int
    _arena_mv: memoryview
    # the chunks of slots (with their rows) and of the arena mapped ahead in these mappings,
    # and the slots and arena bytes whose chunk and the AHEAD chunks after it are among them
    _rows_per_chunk: int
    _ready_slots: set[int]
    _ready_arena: set[int]
    _rows_window: range
    _arena_window: tuple[int, int]
    # in memory
    _table: SlotTable
    _index: dict[str, int]  # id -> its live slot
    _free_slots: list[int]
    _pending_slots: list[int]  # dead on disk; reusable after the next sync
    _stale: dict[str, list[int]]  # replaced, still valid on disk; retired at sync
    _stale_count: int
    _pending_extents: list[tuple[int, int]]
    _pending_bytes: int
    _live_bytes: int
    _next_seq: int
    _alloc: ExtentAllocator
    _norm_buf: Any  # float64 scratch for put's norm (used under _lock only)
    _body: memoryview  # put builds a format-3 slot here (under _lock only)

    # The slot table's columns under their historical names (tests and zoo members plant
    # state through them).
    _slot_ids = _column("ids", "The id each slot holds (None when not live).")
    _live = _column("live", "Whether each slot is live.")
    _offsets = _column("offsets", "Each live slot's content offset.")
    _lengths = _column("lengths", "Each live slot's content length.")
    _norms = _column("norms", "Each slot's embedding norm.")
    _confidences = _column("confidences", "Each slot's confidence.")

    def _init_state(self, directory: str, header: Header, slots: MappedFile,
                    embeddings: MappedFile | None, content: MappedFile, lock_fd: int) -> None:
        self._path = directory
        self._header = header
        self._dim = header.dim
        self._max_content = header.max_content
        self._slots_file = slots
        self._emb_file = embeddings
        self._content_file = content
        self._lock_fd = lock_fd
        self._lock = threading.RLock()
        self._closed = False
        self._norm_buf = np.empty(header.dim, np.float64)
        self._body = memoryview(bytearray(SLOT_FIXED))
        self._remap()
        self._table = SlotTable.empty(self._capacity)
        self._index = {}
        self._free_slots = []
        self._pending_slots = []
        self._stale = {}
        self._stale_count = 0
        self._pending_extents = []
        self._pending_bytes = 0
        self._live_bytes = 0
        self._next_seq = 1

    def _remap(self) -> None:
        """Refresh the views after a file was mapped anew (or the header's format changed)."""
        self._dtype = slot_dtype(self._dim, self._header.version)
        self._slot_size = self._dtype.itemsize
        body = self._slots_file.u8[HEADER_SIZE:]
        self._capacity = cap = body.shape[0] // self._slot_size
        self._slots = body[: cap * self._slot_size].view(self._dtype)
        self._slot_bytes = body
        self._seqs = self._slots["seq"]
        self._slots_mv = body.data  # plain byte writes, faster than numpy setitem
        if self._emb_file is None:
            self._embeddings = self._slots["embedding"]
            self._emb_mv, self._emb_base, self._emb_stride = body.data, SLOT_FIXED, self._slot_size
        else:
            row = 4 * self._dim
            dense = self._emb_file.u8[: cap * row]  # (the file holds at least cap rows)
            self._embeddings = dense.view("<f4").reshape(cap, self._dim)
            self._emb_mv, self._emb_base, self._emb_stride = dense.data, 0, row
        self._arena = self._content_file.u8
        self._arena_mv = self._arena.data
        self._rows_per_chunk = max(1, PREFAULT_BYTES // (4 * self._dim))
        self._ready_slots, self._rows_window = set(), range(0)
        self._ready_arena, self._arena_window = set(), (0, 0)

    def _prefault(self, slot: int, off: int, n: int) -> None:
        """Map the pages a put of ``n`` content bytes at ``off`` into ``slot`` writes (the
        slot, its row, its content), a chunk per system call, where this mapping has not
        mapped or requested them yet; the prefetch thread maps the next chunks. Inside the
        windows the last calls left (most puts), that is two comparisons."""
        if slot not in self._rows_window:
            self._prefault_rows(slot // self._rows_per_chunk)
        lo, hi = self._arena_window
        if n and not lo <= off <= hi - n:
            self._prefault_arena(off, n)

    def _prefault_rows(self, chunk: int) -> None:
        """Map the slots of ``chunk`` (``_rows_per_chunk`` slots) and their rows now, and
        keep the next :data:`~warmtier.prefetch.AHEAD` chunks requested from the prefetch
        thread."""
        files = [(self._slots_file, HEADER_SIZE, self._slot_size)]  # (file, base, stride)
        if self._emb_file is not None:
            files.append((self._emb_file, 0, 4 * self._dim))
        rows = self._rows_per_chunk
        for lo, hi in _due(self._ready_slots, chunk, chunk + 1):
            for f, base, stride in files:
                start, stop = base + lo * rows * stride, base + hi * rows * stride
                if lo == chunk:
                    f.prefault(start, stop)
                elif start < f.size:
                    prefetch.request(f, start, stop)
        self._rows_window = range(chunk * rows, (chunk + 1) * rows)

    def _prefault_arena(self, off: int, n: int) -> None:
        """Map the parts of the arena that ``[off, off + n)`` touches now, and keep the next
        :data:`~warmtier.prefetch.AHEAD` parts requested from the prefetch thread."""
        first, last = off // PREFAULT_BYTES, (off + n - 1) // PREFAULT_BYTES
        f = self._content_file
        for lo, hi in _due(self._ready_arena, first, last + 1):
            start, stop = lo * PREFAULT_BYTES, hi * PREFAULT_BYTES
            if lo <= last:
                f.prefault(start, stop)
            elif start < f.size:
                prefetch.request(f, start, stop)
        self._arena_window = (first * PREFAULT_BYTES, (last + 1) * PREFAULT_BYTES)

    def _ensure_open(self) -> None:
        if self._closed:
            raise StoreClosedError(f"the store at {self._path} is closed")

    def _sync_and_mark(self) -> None:
        """A durability point (defined by the store)."""
        raise NotImplementedError

    def _clean_up_generations(self, gen: int) -> None:
        """Delete files of other generations (an interrupted or finished compaction)."""
        keep = {slots_name(gen), embeddings_name(gen), content_name(gen)}
        for name in os.listdir(self._path):
            if name.startswith(("slots.", "embeddings.", "content.")) and name not in keep:
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(self._path, name))

    @staticmethod
    def _discard(files: tuple[MappedFile | None, ...], *paths: str) -> None:
        for f in files:
            if f is not None:
                f.close()
        for p in paths:
            with contextlib.suppress(OSError):
                os.unlink(p)
