"""Compaction: the copy runs outside the lock from a snapshot of the live slots, and the
switch installs that snapshot; a ``put`` or ``remove`` that lands during the copy is lost.
"""

from __future__ import annotations

import contextlib
import errno
import os

import numpy as np

from warmtier.errors import CapacityError
from warmtier.failpoints import failpoint
from warmtier.format import HEADER_SIZE, Header, content_name, fsync_dir, slots_name, write_current
from warmtier.mapped import MappedFile
from warmtier.records import CompactionStats
from warmtier.store import _PAGE, WarmTierStore, _initial, _round_up

CATEGORY = "compaction"
CAUGHT_BY = ("concurrency",)
COPIED_FROM = {"compact": "6ed3fd40195f"}


class LosesConcurrentWriteStore(WarmTierStore):
    """Reference store whose compaction copies without the lock (writes meanwhile vanish)."""

    def compact(self) -> CompactionStats:
        with self._lock:
            self._ensure_open()
            self._sync_and_mark()
            before = self._alloc.high_water
            live = np.flatnonzero(self._live)
            order = live[np.argsort(self._offsets[live], kind="stable")]
            lens = self._lengths[order]
            new_offs = np.concatenate(([0], np.cumsum(lens)[:-1])).astype(np.int64) \
                if len(order) else np.zeros(0, np.int64)
            total = int(lens.sum())
            capacity = max(_initial(self._capacity, len(order)), 1)
            arena = max(_PAGE, _round_up(total, _PAGE))
            gen = self._header.gen + 1
            h = self._header.with_seqs(self._next_seq - 1, self._next_seq - 1)
            header = Header(h.dim, h.slot_size, h.max_content, h.flushed_seq,
                            h.seq_floor, gen, h.max_slots, h.max_arena_bytes)
        # BUG: the lock is released for the slow copy ("readers should not wait").
        slots_path = os.path.join(self._path, slots_name(gen))
        content_path = os.path.join(self._path, content_name(gen))
        for p in (slots_path, content_path):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(p)
        new_slots = new_content = None
        try:
            new_slots = MappedFile(slots_path, name="slots",
                                   create_size=HEADER_SIZE + capacity * self._slot_size)
            new_content = MappedFile(content_path, name="content", create_size=arena)
            with self._lock:
                self._copy_into(new_slots, new_content, order, new_offs, header)
            failpoint("compact.after_copy")
            new_slots.sync()
            new_content.sync()
            fsync_dir(self._path)
        except OSError as exc:
            self._discard(new_slots, new_content, slots_path, content_path)
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise CapacityError(f"no space to compact: {exc}") from exc
            raise
        except BaseException:
            self._discard(new_slots, new_content, slots_path, content_path)
            raise
        with self._lock:
            failpoint("compact.before_switch")
            write_current(self._path, gen)
            old_slots, old_content = self._slots_file, self._content_file
            self._adopt(header, new_slots, new_content, order, new_offs)
            old_slots.close()
            old_content.close()
            self._clean_up_generations(gen)
            after = self._alloc.high_water
            failpoint("compact.after_switch")
            return CompactionStats(bytes_before=before, bytes_after=after,
                                   bytes_reclaimed=before - after, records_moved=len(order))
