"""Compaction: live records rewritten densely into a new generation of files, switched to
atomically (CURRENT is renamed last); the in-memory state then follows the new files.
"""

from __future__ import annotations

import contextlib
import errno
import os
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from warmtier.allocator import ExtentAllocator
from warmtier.errors import CapacityError
from warmtier.failpoints import failpoint
from warmtier.format import (
    HEADER_SIZE,
    Header,
    content_name,
    fsync_dir,
    slot_checksum,
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
            new_slots, new_content = self._write_generation(plan)
            self._switch_to(plan, new_slots, new_content)
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
        header = Header(h.dim, h.slot_size, h.max_content, h.flushed_seq, h.seq_floor,
                        h.gen + 1, h.max_slots, h.max_arena_bytes)
        return _Plan(order, new_offs, capacity=max(_initial(self._capacity, len(order)), 1),
                     arena=max(PAGE, round_up(int(lens.sum()), PAGE)), header=header)

    def _write_generation(self, plan: _Plan) -> tuple[MappedFile, MappedFile]:
        """The new generation's files, written, synced and named by CURRENT."""
        gen = plan.header.gen
        slots_path = os.path.join(self._path, slots_name(gen))
        content_path = os.path.join(self._path, content_name(gen))
        for p in (slots_path, content_path):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(p)
        new_slots = new_content = None
        try:
            new_slots = MappedFile(slots_path, name="slots",
                                   create_size=HEADER_SIZE + plan.capacity * self._slot_size)
            new_content = MappedFile(content_path, name="content", create_size=plan.arena)
            self._copy_into(new_slots, new_content, plan.order, plan.new_offs, plan.header)
            failpoint("compact.after_copy")
            new_slots.sync()
            new_content.sync()
            fsync_dir(self._path)
            failpoint("compact.before_switch")
            write_current(self._path, gen)
        except OSError as exc:
            self._discard(new_slots, new_content, slots_path, content_path)
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise CapacityError(f"no space to compact: {exc}") from exc
            raise
        except BaseException:
            self._discard(new_slots, new_content, slots_path, content_path)
            raise
        return new_slots, new_content

    def _switch_to(self, plan: _Plan, slots: MappedFile, content: MappedFile) -> None:
        old_slots, old_content = self._slots_file, self._content_file
        self._adopt(plan.header, slots, content, plan.order, plan.new_offs)
        old_slots.close()
        old_content.close()
        self._clean_up_generations(plan.header.gen)

    def _copy_into(self, slots: MappedFile, content: MappedFile, order: npt.NDArray[np.int64],
                   new_offs: npt.NDArray[np.int64], header: Header) -> None:
        slots.u8[:HEADER_SIZE] = np.frombuffer(header.pack(), np.uint8)
        size = self._slot_size
        dst = slots.u8[HEADER_SIZE:]
        src_arena = self._arena
        dst_arena = content.u8
        offsets, lengths = self._table.offsets, self._table.lengths
        chunk = 4096
        for start in range(0, len(order), chunk):
            part = order[start : start + chunk]
            block = self._slots[part].copy()
            block["off"] = new_offs[start : start + chunk]
            raw = block.view(np.uint8).reshape(len(part), size)
            for j, i in enumerate(part.tolist()):
                o, n = int(offsets[i]), int(lengths[i])
                no = int(new_offs[start + j])
                if n:
                    dst_arena[no : no + n] = src_arena[o : o + n]
                crc = slot_checksum(raw[j].data, dst_arena[no : no + n].data, header.version)
                block["crc"][j] = crc
            dst[start * size : (start + len(part)) * size] = raw.reshape(-1)

    def _adopt(self, header: Header, slots: MappedFile, content: MappedFile,
               order: npt.NDArray[np.int64], new_offs: npt.NDArray[np.int64]) -> None:
        """Switch the in-memory state to the compacted generation (cannot fail)."""
        n = len(order)
        old = self._table
        ids = [old.ids[i] for i in order.tolist()]
        norms, confs, lens = old.norms[order], old.confidences[order], old.lengths[order]
        self._header = header
        self._slots_file, self._content_file = slots, content
        self._remap()
        cap = self._capacity
        self._table = SlotTable.packed(cap, ids, new_offs, lens, norms, confs)
        self._index = {name: i for i, name in enumerate(ids) if name is not None}
        self._free_slots = list(range(cap - 1, n - 1, -1))
        self._pending_slots, self._stale, self._pending_extents = [], {}, []
        self._stale_count = self._pending_bytes = 0
        self._alloc = ExtentAllocator.from_allocated(content.size, new_offs, lens)
