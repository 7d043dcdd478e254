"""Recovery: the store's in-memory state rebuilt from its files alone, at ``open``.

Torn slots (written after the last durability point, never completed) are dropped; the
newest version of each id wins; damage before the last durability point is an error.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from warmtier.allocator import AllocatorError, ExtentAllocator
from warmtier.errors import CorruptionError
from warmtier.format import (
    HEADER_SIZE,
    ID_FIELD,
    ID_OFFSET,
    MAX_SEQ,
    Header,
    content_name,
    embeddings_name,
    embeds_in_slots,
    fixed_dtype,
    read_current,
    slot_dtype,
    slots_name,
    slots_pass,
)
from warmtier.mapped import MappedFile
from warmtier.slots import score_weights
from warmtier.state import StoreState

__all__ = ["Recovery", "Verify"]

Verify = Literal["all", "recent"]
_I64 = npt.NDArray[np.int64]


@dataclass
class _Found:
    """Published slots as read from the slot file: slot numbers and their fields."""

    slots: _I64
    offs: _I64
    lens: _I64
    id_lens: _I64
    confs: npt.NDArray[np.float64]
    norms: npt.NDArray[np.float64]

    def take(self, which: Any) -> _Found:
        return _Found(self.slots[which], self.offs[which], self.lens[which],
                      self.id_lens[which], self.confs[which], self.norms[which])


class Recovery(StoreState):
    """``open``'s half of the store: map the files named by CURRENT, then rebuild."""

    def _recover(self, directory: str, lock_fd: int, verify: Verify = "all") -> None:
        self._slots_file = self._emb_file = None  # type: ignore[assignment]
        self._content_file = None  # type: ignore[assignment]
        gen = read_current(directory)
        slots_path = os.path.join(directory, slots_name(gen))
        self._slots_file = self._map(directory, gen, slots_name(gen), "slots")
        raw = self._slots_file.u8[:HEADER_SIZE].tobytes()
        header = Header.unpack(raw, slots_path)
        if header.gen != gen:
            raise CorruptionError(f"{slots_path}: header generation {header.gen} != CURRENT {gen}")
        body = self._slots_file.size - HEADER_SIZE
        if body < 0 or body % header.slot_size:
            raise CorruptionError(
                f"{slots_path}: {self._slots_file.size} bytes is not a header plus whole slots"
            )
        if not embeds_in_slots(header.version):
            self._emb_file = self._map(directory, gen, embeddings_name(gen), "embeddings")
            self._emb_rows_for(header, body // header.slot_size)
        self._content_file = self._map(directory, gen, content_name(gen), "content")
        self._init_state(directory, header, self._slots_file, self._emb_file,
                         self._content_file, lock_fd)
        self._rebuild(verify)
        self._clean_up_generations(gen)

    @staticmethod
    def _map(directory: str, gen: int, name: str, role: str) -> MappedFile:
        """The file ``name`` of generation ``gen``, mapped; CorruptionError if it is not
        there or cannot be mapped."""
        path = os.path.join(directory, name)
        if not os.path.isfile(path):
            raise CorruptionError(f"{directory}: CURRENT names generation {gen} but {name} "
                                  "is missing")
        try:
            return MappedFile(path, name=role)
        except (OSError, ValueError) as exc:
            raise CorruptionError(f"{directory}: cannot map {name}: {exc}") from None

    def _emb_rows_for(self, header: Header, capacity: int) -> None:
        """Make the embeddings file hold a row for each of ``capacity`` slots. A crash can
        leave it shorter (the slots file's growth reached the disk, its own did not): the
        missing rows are added as zeros, so a slot published there fails its checksum and
        is dropped as torn. A slot lacking its row that was written before the last
        durability point is corruption, found before anything is changed; so is a file of
        partial rows."""
        f, row = self._emb_file, 4 * header.dim
        assert f is not None
        if f.size % row:  # growth is by whole rows; a crash cannot cut one
            raise CorruptionError(f"{f.path}: {f.size} bytes is not whole embeddings of "
                                  f"{row} bytes (dim {header.dim})")
        have = f.size // row
        if have >= capacity:
            return
        body = self._slots_file.u8[HEADER_SIZE : HEADER_SIZE + capacity * header.slot_size]
        seqs = body.view(slot_dtype(header.dim, header.version))["seq"][have:]
        if ((seqs != 0) & (seqs <= header.flushed_seq)).any():
            raise CorruptionError(f"{f.path}: {f.size} bytes hold {have} embeddings for "
                                  f"{capacity} slots, and a slot written before the last "
                                  "flush lacks its embedding")
        f.grow(capacity * row)

    def _rebuild(self, verify: Verify = "all") -> None:
        """Rebuild the index, the free lists and the allocator from the files alone."""
        rows = self._slot_bytes[: self._capacity * self._slot_size].reshape(
            self._capacity, self._slot_size)
        # One sequential pass copies every slot's fixed fields (not the id or embedding):
        # far cheaper than a strided gather per field over the whole mapping.
        fixed = np.ascontiguousarray(rows[:, :ID_OFFSET]).view(fixed_dtype()).reshape(-1)
        found, sane = self._published(fixed)
        good = self._checksums_hold(found, sane, fixed["seq"], verify)
        torn = found.slots[~good]
        found = self._in_range(found.take(good) if len(torn) else found)
        order = np.argsort(fixed["seq"][found.slots], kind="stable")
        found = found.take(order)  # oldest first: the newest version of an id wins
        names = self._decode_ids(rows, found)
        index = dict(zip(names, found.slots.tolist(), strict=True))
        stale = [] if len(index) == len(names) else [  # superseded versions left by a crash
            i for name, i in zip(names, found.slots.tolist(), strict=True) if index[name] != i]
        self._adopt_found(found, index)
        self._next_seq = self._next_seq_after(fixed["seq"])
        self._retire_dropped(np.concatenate((torn, np.array(stale, dtype=np.int64))))

    def _published(self, fixed: Any) -> tuple[_Found, npt.NDArray[np.bool_]]:
        """The slots with a sequence number, and which of them have fields in bounds."""
        header, arena_size = self._header, self._content_file.size
        cand = np.flatnonzero(fixed["seq"] != 0)
        u_offs, u_lens = fixed["off"][cand], fixed["length"][cand]
        found = _Found(cand, u_offs.astype(np.int64), u_lens.astype(np.int64),
                       fixed["id_len"][cand].astype(np.int64),
                       fixed["confidence"][cand].astype(np.float64),
                       fixed["norm"][cand].astype(np.float64))
        sane = (
            (u_offs <= arena_size)
            & (u_lens <= min(arena_size, header.max_content))
            & (found.offs + found.lens <= arena_size)
            & (found.id_lens >= 1) & (found.id_lens <= ID_FIELD - 1)
        )
        return found, sane

    def _checksums_hold(self, found: _Found, sane: npt.NDArray[np.bool_], seqs: Any,
                        verify: Verify) -> npt.NDArray[np.bool_]:
        """Which found slots are whole; a broken one written before the last durability
        point is corruption, not a torn write."""
        cand, flushed = found.slots, self._header.flushed_seq
        if verify == "all":
            good = self._verify(cand, found.offs, found.lens, sane)
        else:  # only what a crash can have torn; older slots are trusted when sane
            recent = sane & (seqs[cand] > flushed)
            good = self._verify(cand, found.offs, found.lens, recent) | (sane & ~recent)
        bad = cand[~good]
        corrupt = bad[seqs[bad] <= flushed]
        if len(corrupt):
            raise CorruptionError(
                f"{self._path}: {len(corrupt)} slot(s) written before the last flush fail "
                "their checksum",
                [f"slot {int(i)} (seq {int(seqs[i])}) fails its checksum or bounds"
                 for i in corrupt[:50]],
            )
        return good

    def _in_range(self, found: _Found) -> _Found:
        """``found``, once its confidences and norms are known to be in range."""
        if len(found.slots):
            bad_conf = ~((found.confs >= 0.0) & (found.confs <= 1.0))
            bad_norm = ~(np.isfinite(found.norms) & (found.norms >= 0.0))
            if bad_conf.any() or bad_norm.any():
                raise CorruptionError(f"{self._path}: slot fields out of range despite a valid "
                                      "checksum")
        return found

    def _decode_ids(self, rows: Any, found: _Found) -> list[str]:
        """Every found slot's id (only as many bytes of the id field as the longest id)."""
        width = int(found.id_lens.max()) if len(found.id_lens) else 1
        blob = rows[found.slots, ID_OFFSET : ID_OFFSET + width].tobytes()
        try:
            return [blob[k : k + n].decode("utf-8") for k, n in
                    zip(range(0, len(blob), width), found.id_lens.tolist(), strict=True)]
        except UnicodeDecodeError:
            raise CorruptionError(f"{self._path}: a slot's id is not valid UTF-8") from None

    def _adopt_found(self, found: _Found, index: dict[str, int]) -> None:
        """The slot table, the index and the allocator hold the newest version of each id."""
        table = self._table
        live_slots = np.fromiter(index.values(), dtype=np.int64, count=len(index))
        table.live = np.zeros(self._capacity, dtype=bool)
        table.live[live_slots] = True
        table.offsets[found.slots] = found.offs
        table.lengths[found.slots] = found.lens
        table.norms[found.slots] = found.norms
        table.weights[live_slots] = score_weights(table.norms[live_slots])
        table.confidences[found.slots] = found.confs
        table.offsets[~table.live] = 0
        table.lengths[~table.live] = 0
        try:
            self._alloc = ExtentAllocator.from_allocated(
                self._content_file.size, table.offsets[live_slots], table.lengths[live_slots])
        except AllocatorError as exc:
            raise CorruptionError(f"{self._path}: live content extents are invalid: {exc}") from None
        for ident, i in index.items():
            table.ids[i] = ident
        self._index = index
        self._live_bytes = int(table.lengths[live_slots].sum())

    def _next_seq_after(self, seqs: Any) -> int:
        """The next sequence number: past every slot's and the header's floor."""
        nxt = max(int(seqs.max(initial=0)), self._header.seq_floor) + 1
        if nxt > MAX_SEQ:  # 2**63 puts cannot have happened: a damaged counter
            raise CorruptionError(f"{self._path}: sequence number {nxt - 1} is "
                                  f"beyond any reachable count ({MAX_SEQ})")
        return nxt

    def _retire_dropped(self, dead: _I64) -> None:
        """Unpublish what recovery dropped, durably, before anything can reuse the space."""
        if len(dead):
            self._seqs[dead] = 0
        self._free_slots = np.flatnonzero(~self._table.live)[::-1].tolist()
        if len(dead) or self._header.flushed_seq != self._next_seq - 1:
            self._sync_and_mark()

    def _verify(self, cand: _I64, offs: _I64, lens: _I64,
                sane: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
        """Which candidate slots pass their checksum (:func:`~warmtier.format.slots_pass`)."""
        pick = np.flatnonzero(sane)
        rows = zip(cand[pick].tolist(), offs[pick].tolist(), lens[pick].tolist(),
                   self._slots["crc"][cand[pick]].tolist(), strict=True)
        ok = slots_pass(self._header.version, self._slot_bytes.data, self._emb_mv,
                        self._arena.data, rows, self._slot_size, 4 * self._dim)
        good = np.zeros(len(cand), dtype=bool)
        good[pick] = ok
        return good
