"""put_many's writes: a validated batch held as columns (its embeddings stacked, their norms
computed before the lock), written a phase at a time and published record by record.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import numpy.typing as npt

from warmtier.errors import CapacityError, InvalidArgumentError
from warmtier.failpoints import failpoint
from warmtier.format import ID_FIELD, checksums
from warmtier.records import Embedding
from warmtier.state import StoreState
from warmtier.validation import validate_embedding

__all__ = ["Batch", "BatchPuts"]

_F64 = npt.NDArray[np.float64]
_I64 = npt.NDArray[np.int64]
#: Rows per float64 copy when computing a batch's norms (a copy small enough to come
#: from the heap: a fresh mapping for a large one costs a page fault per 4 KiB).
_NORM_ROWS = 64


class Batch(NamedTuple):
    """Validated records of one ``put_many``, as columns; ``embeddings`` is the store's own
    ``(n, dim)`` float32 copy and ``norms`` their float64 norms."""

    ids: list[str]
    raw_ids: list[bytes]
    embeddings: npt.NDArray[np.float32]
    contents: list[bytes]
    lengths: _I64
    confidences: list[float]
    norms: _F64

    @classmethod
    def of(cls, rows: list[tuple[str, bytes, npt.NDArray[np.float32], bytes, float]],
           dim: int) -> Batch:
        """The batch of ``rows`` (validated, embeddings float32 of shape ``(dim,)``),
        raising InvalidArgumentError naming the first record whose embedding is not finite."""
        ids = [row[0] for row in rows]
        stacked = np.array([row[2] for row in rows], np.float32).reshape(len(rows), dim)
        squares = _squared_norms(stacked)
        bad = np.flatnonzero(~np.isfinite(squares))
        if len(bad):
            j = int(bad[0])
            try:
                validate_embedding(stacked[j], dim)
            except InvalidArgumentError as exc:
                raise InvalidArgumentError(f"records[{j}]: {exc}") from None
        contents = [row[3] for row in rows]
        return cls(ids, [row[1] for row in rows], stacked, contents,
                   np.fromiter(map(len, contents), np.int64, len(contents)),
                   [row[4] for row in rows], np.sqrt(squares))

    def record(self, j: int) -> tuple[str, bytes, npt.NDArray[np.float32], bytes, float, float]:
        """Record ``j`` as :meth:`WarmTierStore._put_locked` takes it."""
        return (self.ids[j], self.raw_ids[j], self.embeddings[j], self.contents[j],
                self.confidences[j], float(self.norms[j]))


def _squared_norms(embeddings: npt.NDArray[np.float32]) -> _F64:
    """Each row's squared norm, as ``put`` takes it: the float64 dot product of the row with
    itself (a matrix product of a row by a column calls the same BLAS dot, so a record's
    norm does not depend on how it was put and equal embeddings keep equal scores); not
    finite only for a NaN or an infinite value."""
    out = np.empty(len(embeddings), np.float64)
    for lo in range(0, len(embeddings), _NORM_ROWS):
        rows = embeddings[lo : lo + _NORM_ROWS].astype(np.float64)
        out[lo : lo + len(rows)] = np.matmul(rows[:, None, :], rows[:, :, None])[:, 0, 0]
    return out


class BatchPuts(StoreState):
    """Writes a :class:`Batch` under the lock: every content, then every row and slot body
    (unpublished), then each publish in order, so a crash or a fault at any point leaves a
    prefix of the batch published. Per record the order is ``put``'s."""

    if TYPE_CHECKING:  # the store's single-record steps
        def _put_locked(self, id: str, raw_id: bytes, emb: Embedding, data: bytes,
                        conf: float, norm: float) -> None: ...
        def _take_extent(self, n: int) -> int: ...
        def _remember(self, id: str, slot: int, off: int, n: int, norm: float,
                      conf: float) -> None: ...
        def _retire_replaced(self, slot: int, id: str) -> None: ...

    def _put_batch(self, batch: Batch) -> None:
        """Put every record of ``batch``, a phase at a time where the slots are free and
        the format keeps embeddings apart; else record by record."""
        n = len(batch.ids)
        if not n:
            return
        if self._emb_file is None or len(self._free_slots) < n:
            self._put_each(batch)
            return
        slots = self._free_slots[: -n - 1 : -1]  # the lowest first, as n puts take them
        del self._free_slots[-n:]
        try:
            place = self._place(batch, slots)
        except BaseException as exc:
            self._free_slots.extend(reversed(slots))
            if not isinstance(exc, CapacityError):
                raise
            self._put_each(batch)  # the arena cannot hold the batch in one piece
            return
        self._write_batch(batch, place)

    def _put_each(self, batch: Batch) -> None:
        for j in range(len(batch.ids)):
            self._put_locked(*batch.record(j))

    def _place(self, batch: Batch, slots: list[int]) -> _Place:
        """Where the batch goes: ``slots``, and one extent for all its content, cut in
        order (an empty content at offset 0)."""
        lengths = batch.lengths
        total = int(lengths.sum())
        base = self._take_extent(total) if total else 0
        offsets = np.where(lengths > 0, base + np.cumsum(lengths) - lengths, 0)
        return _Place(slots, np.array(slots, np.int64), offsets, base, total)

    def _write_batch(self, batch: Batch, place: _Place) -> None:
        """The phases, then the publishes; whatever is not published is given back."""
        n = len(place.slots)
        seqs = list(range(self._next_seq, self._next_seq + n))
        self._next_seq += n
        done = 0
        try:
            self._prefault_batch(place)
            _hits("put.after_alloc", n)
            if place.total:
                self._arena_mv[place.base : place.base + place.total] = b"".join(batch.contents)
            _hits("put.after_content", n)
            self._embeddings[place.at] = batch.embeddings
            self._slots[place.at] = self._bodies(batch, place, seqs)
            published = self._seqs
            for slot, seq in zip(place.slots, seqs, strict=True):
                failpoint("put.before_publish")
                published[slot] = seq
                done += 1
                failpoint("put.after_publish")
        finally:
            self._remember_batch(batch, place, done)
            if done < n:
                self._free_slots.extend(reversed(place.slots[done:]))
                used = int(batch.lengths[:done].sum())
                if used < place.total:
                    self._alloc.free(place.base + used, place.total - used)

    def _bodies(self, batch: Batch, place: _Place, seqs: list[int]) -> npt.NDArray[np.void]:
        """The batch's slot bodies, unpublished (seq 0), with the checksums their seqs will
        make valid (over the content already in the arena)."""
        n = len(seqs)
        body = np.zeros(n, self._dtype)
        body["id_len"] = np.fromiter(map(len, batch.raw_ids), np.int64, n)
        body["seq"] = seqs
        body["off"] = place.offsets
        body["length"] = batch.lengths
        body["confidence"] = batch.confidences
        body["norm"] = batch.norms
        body["id"] = np.array(batch.raw_ids, f"S{ID_FIELD}").view(np.uint8).reshape(n, ID_FIELD)
        body["crc"] = checksums(
            body.view(np.uint8).data, batch.embeddings.reshape(-1).view(np.uint8).data,
            self._arena_mv, zip(place.offsets.tolist(), batch.lengths.tolist(), strict=True),
            self._slot_size, 4 * self._dim)
        body["seq"] = 0
        return body

    def _remember_batch(self, batch: Batch, place: _Place, m: int) -> None:
        """Point the index and the slot table at the first ``m`` records' slots."""
        ids, slots = batch.ids[:m], place.slots[:m]
        if len(set(ids)) < m:  # a later duplicate replaces an earlier one: in order
            for j in range(m):
                self._remember(ids[j], slots[j], int(place.offsets[j]), int(batch.lengths[j]),
                               float(batch.norms[j]), batch.confidences[j])
            return
        index = self._index
        for id, old in zip(ids, map(index.get, ids), strict=True):
            if old is not None:
                self._retire_replaced(old, id)
        index.update(zip(ids, slots, strict=True))
        self._table.fill_many(place.at[:m], ids, place.offsets[:m], batch.lengths[:m],
                              batch.norms[:m], np.array(batch.confidences[:m], np.float64))
        self._live_bytes += int(batch.lengths[:m].sum())

    def _prefault_batch(self, place: _Place) -> None:
        """:meth:`_prefault` for every slot of a batch and its one content extent."""
        for chunk in np.unique(place.at // self._rows_per_chunk).tolist():
            self._prefault_rows(chunk)
        self._prefault_arena(place.base, place.total)


class _Place(NamedTuple):
    """Where a batch goes: its slots (a list, and as an array), each record's content
    offset, and the one extent ``[base, base + total)`` that holds every content."""

    slots: list[int]
    at: _I64
    offsets: _I64
    base: int
    total: int


def _hits(name: str, times: int) -> None:
    """The failpoint ``name`` once per record of a phase (a kill or fault at the i-th lands
    where it lands in the i-th record's ``put``: before anything of the batch is published)."""
    for _ in range(times):
        failpoint(name)
