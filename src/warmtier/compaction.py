"""Compaction: live records rewritten densely into a new generation of files, switched to
atomically (CURRENT is renamed last); the in-memory state then follows the new files.
"""

from __future__ import annotations

import contextlib
import errno
import os
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from warmtier.allocator import ExtentAllocator
from warmtier.errors import CapacityError
from warmtier.failpoints import failpoint
from warmtier.format import (
    HEADER_SIZE,
    SLOT_FIXED,
    Header,
    content_name,
    embeddings_name,
    fsync_dir,
    slot_checksum,
    slot_dtype,
    slots_name,
    write_current,
)
from warmtier.mapped import MappedFile
from warmtier.records import CompactionStats
from warmtier.slots import SlotTable
from warmtier.state import StoreState

__all__ = ["PAGE", "Compaction", "round_up"]

PAGE = 4096


def round_up(n: int, to: int) -> int:
    return (n + to - 1) // to * to


def _initial(capacity: int, live: int) -> int:
    """Slot capacity after compaction: the next power of two holding ``live``, at most now."""
    target = 1
    while target < live:
        target *= 2
    return min(capacity, max(target, 16))


class _Files(NamedTuple):
    """A generation's files, mapped."""

    slots: MappedFile
    embeddings: MappedFile
    content: MappedFile


@dataclass(frozen=True)
class _Plan:
    """The next generation: live slots in content order, their new offsets, the sizes."""

    order: npt.NDArray[np.int64]
    new_offs: npt.NDArray[np.int64]
    capacity: int
    arena: int
    header: Header


class Compaction(StoreState):
    """``compact()`` and its steps: plan, write the new generation, switch to it."""

    def compact(self) -> CompactionStats:
        """Rewrite live records densely into a new generation of files and switch to it
        atomically (CURRENT is renamed last). A durability point."""
        with self._lock:
            self._ensure_open()
            self._sync_and_mark()
            before = self._alloc.high_water
            plan = self._plan_compaction()
            self._switch_to(plan, self._write_generation(plan))
            after = self._alloc.high_water
            failpoint("compact.after_switch")
            return CompactionStats(bytes_before=before, bytes_after=after,
                                   bytes_reclaimed=before - after, records_moved=len(plan.order))

    def _plan_compaction(self) -> _Plan:
        live = np.flatnonzero(self._table.live)
        order = live[np.argsort(self._table.offsets[live], kind="stable")]
        lens = self._table.lengths[order]
        new_offs = np.concatenate(([0], np.cumsum(lens)[:-1])).astype(np.int64) \
            if len(order) else np.zeros(0, np.int64)
        h = self._header.with_seqs(self._next_seq - 1, self._next_seq - 1)
        header = Header(h.dim, slot_dtype(h.dim).itemsize, h.max_content, h.flushed_seq,
                        h.seq_floor, h.gen + 1, h.max_slots, h.max_arena_bytes)
        return _Plan(order, new_offs, capacity=max(_initial(self._capacity, len(order)), 1),
                     arena=max(PAGE, round_up(int(lens.sum()), PAGE)), header=header)

    def _write_generation(self, plan: _Plan) -> _Files:
        """The new generation's files (slots, embeddings, content), written, synced and
        named by CURRENT."""
        gen, dim = plan.header.gen, plan.header.dim
        paths = [os.path.join(self._path, name(gen))
                 for name in (slots_name, embeddings_name, content_name)]
        for p in paths:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(p)
        files: list[MappedFile] = []
        try:
            for path, role, size in zip(paths, ("slots", "embeddings", "content"), (
                    HEADER_SIZE + plan.capacity * plan.header.slot_size,
                    plan.capacity * 4 * dim, plan.arena), strict=True):
                files.append(MappedFile(path, name=role, create_size=size))
            new = _Files(*files)
            self._copy_into(new, plan.order, plan.new_offs, plan.header)
            failpoint("compact.after_copy")
            for f in (new.content, new.embeddings, new.slots):
                f.sync()
            fsync_dir(self._path)
            failpoint("compact.before_switch")
            write_current(self._path, gen)
        except OSError as exc:
            self._discard(tuple(files), *paths)
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise CapacityError(f"no space to compact: {exc}") from exc
            raise
        except BaseException:
            self._discard(tuple(files), *paths)
            raise
        return new

    def _switch_to(self, plan: _Plan, new: _Files) -> None:
        old = (self._slots_file, self._emb_file, self._content_file)
        self._adopt(plan.header, new, plan.order, plan.new_offs)
        for f in old:
            if f is not None:
                f.close()
        self._clean_up_generations(plan.header.gen)

    def _copy_into(self, new: _Files, order: npt.NDArray[np.int64],
                   new_offs: npt.NDArray[np.int64], header: Header) -> None:
        """Each live slot's fixed fields (its new offset, its checksum in the new format),
        embedding and content, ``order[j]`` to slot ``j``, a few thousand at a time."""
        for f in new:  # every page is written: map them all in three system calls
            f.prefault(0, f.size)
        new.slots.u8[:HEADER_SIZE] = np.frombuffer(header.pack(), np.uint8)
        dtype = slot_dtype(header.dim, header.version)  # the new format's: no embedding
        size, row = dtype.itemsize, 4 * header.dim
        rows = self._slot_bytes[: self._capacity * self._slot_size].reshape(
            self._capacity, self._slot_size)
        dst, dst_emb = new.slots.u8[HEADER_SIZE:], new.embeddings.u8
        src_arena, dst_arena = self._arena, new.content.u8
        offsets, lengths = self._table.offsets, self._table.lengths
        chunk = 4096
        for start in range(0, len(order), chunk):
            part = order[start : start + chunk]
            block = np.ascontiguousarray(rows[part, :SLOT_FIXED]).view(dtype).reshape(-1)
            block["off"] = new_offs[start : start + chunk]
            raw = block.view(np.uint8).reshape(len(part), size)
            embs = np.ascontiguousarray(self._embeddings[part]).view(np.uint8)
            for j, i in enumerate(part.tolist()):
                o, n = int(offsets[i]), int(lengths[i])
                no = int(new_offs[start + j])
                if n:
                    dst_arena[no : no + n] = src_arena[o : o + n]
                block["crc"][j] = slot_checksum(raw[j].data, dst_arena[no : no + n].data,
                                                header.version, embs[j].data)
            dst[start * size : (start + len(part)) * size] = raw.reshape(-1)
            dst_emb[start * row : (start + len(part)) * row] = embs.reshape(-1)

    def _adopt(self, header: Header, new: _Files, order: npt.NDArray[np.int64],
               new_offs: npt.NDArray[np.int64]) -> None:
        """Switch the in-memory state to the compacted generation (cannot fail)."""
        n = len(order)
        old = self._table
        ids = [old.ids[i] for i in order.tolist()]
        norms, confs, lens = old.norms[order], old.confidences[order], old.lengths[order]
        self._header = header
        self._slots_file, self._emb_file, self._content_file = new
        content = new.content
        self._remap()
        cap = self._capacity
        self._table = SlotTable.packed(cap, ids, new_offs, lens, norms, confs)
        self._index = {name: i for i, name in enumerate(ids) if name is not None}
        self._free_slots = list(range(cap - 1, n - 1, -1))
        self._pending_slots, self._stale, self._pending_extents = [], {}, []
        self._stale_count = self._pending_bytes = 0
        self._alloc = ExtentAllocator.from_allocated(content.size, new_offs, lens)
