"""The store's invariants, each a small named check; ``check()`` runs them in order.

The first four look at shapes (files, header, allocator, slot table); the rest index by
slot and run only when the shapes hold. A check yields one message per violation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import cached_property
from typing import ClassVar, TypeVar

import numpy as np

from warmtier.errors import CorruptionError
from warmtier.format import HEADER_SIZE, Header, slot_checksum
from warmtier.slots import score_weights
from warmtier.state import StoreState

__all__ = ["Invariants"]

Check = TypeVar("Check", bound=Callable[..., Iterator[str]])
_SHAPES: list[str] = []
_SLOTS: list[str] = []


def _shape(check: Check) -> Check:
    """Mark a check of shapes (run first; when one fails, the slot checks do not run)."""
    _SHAPES.append(check.__name__)
    return check


def _slots(check: Check) -> Check:
    """Mark a check that indexes by slot."""
    _SLOTS.append(check.__name__)
    return check


class _Facts:
    """What several checks look at, computed once per ``check()``."""

    def __init__(self, store: StoreState) -> None:
        self.store = store

    @cached_property
    def live(self) -> list[int]:
        live: list[int] = np.flatnonzero(self.store._table.live).tolist()
        return live

    @cached_property
    def stale(self) -> list[int]:
        return [slot for slots in self.store._stale.values() for slot in slots]

    @cached_property
    def extents(self) -> list[tuple[int, int]]:
        """Live and pending content extents, by offset."""
        t = self.store._table
        return sorted([(int(t.offsets[i]), int(t.lengths[i])) for i in self.live if t.lengths[i]]
                      + self.store._pending_extents)


class Invariants(StoreState):
    """``check()``: every invariant of the store, as a list of named checks."""

    #: Method names, in the order their violations are reported.
    SHAPE_INVARIANTS: ClassVar[tuple[str, ...]]
    SLOT_INVARIANTS: ClassVar[tuple[str, ...]]

    def check(self) -> None:
        """Verify every invariant; raise CorruptionError listing each violation."""
        with self._lock:
            self._ensure_open()
            problems = self._violations()
        if problems:
            raise CorruptionError(f"{len(problems)} invariant violation(s): {problems[0]}",
                                  problems)

    def _violations(self) -> list[str]:
        facts = _Facts(self)
        problems = [p for name in self.SHAPE_INVARIANTS for p in getattr(self, name)(facts)]
        if problems:
            return problems
        return [p for name in self.SLOT_INVARIANTS for p in getattr(self, name)(facts)]

    # -- shapes ----------------------------------------------------------------------

    @_shape
    def _arena_file_is_the_allocators_size(self, facts: _Facts) -> Iterator[str]:
        if self._content_file.size != self._alloc.size:
            yield (f"arena file is {self._content_file.size} bytes, allocator thinks "
                   f"{self._alloc.size}")

    @_shape
    def _embeddings_file_has_a_row_per_slot(self, facts: _Facts) -> Iterator[str]:
        f = self._emb_file
        if f is not None and f.size < self._capacity * 4 * self._dim:
            yield (f"embeddings file is {f.size} bytes, fewer than {self._capacity} rows of "
                   f"{4 * self._dim}")

    @_shape
    def _header_reads(self, facts: _Facts) -> Iterator[str]:
        try:
            Header.unpack(self._slots_file.u8[:HEADER_SIZE].tobytes(), "header")
        except CorruptionError as exc:
            yield str(exc)

    @_shape
    def _allocator_is_consistent(self, facts: _Facts) -> Iterator[str]:
        yield from self._alloc.check()

    @_shape
    def _slot_table_has_an_entry_per_slot(self, facts: _Facts) -> Iterator[str]:
        yield from self._table.shape_problems(self._capacity)

    # -- the index and the roles of slots ----------------------------------------------

    @_slots
    def _index_names_each_live_slot_once(self, facts: _Facts) -> Iterator[str]:
        t, cap = self._table, self._capacity
        if len(facts.live) != len(self._index):
            yield f"{len(facts.live)} live slots but {len(self._index)} ids in the index"
        if len(set(self._index.values())) != len(self._index):
            yield "two ids share a slot"
        for ident, i in self._index.items():
            if not 0 <= i < cap or not t.live[i] or t.ids[i] != ident:
                yield f"index entry {ident!r} -> slot {i} is not that live slot"

    @_slots
    def _counters_match_their_lists(self, facts: _Facts) -> Iterator[str]:
        if len(facts.stale) != self._stale_count:
            yield f"stale counter {self._stale_count} != {len(facts.stale)} stale slots"
        if self._pending_bytes != sum(n for _, n in self._pending_extents):
            yield "pending byte counter != sum of pending extents"

    @_slots
    def _every_slot_has_one_role(self, facts: _Facts) -> Iterator[str]:
        cap = self._capacity
        roles: dict[int, str] = {}
        for role, members in (("live", facts.live), ("free", self._free_slots),
                              ("pending", self._pending_slots), ("stale", facts.stale)):
            for i in members:
                if not 0 <= i < cap:
                    yield f"{role} slot {i} is outside the {cap} slots"
                elif i in roles:
                    yield f"slot {i} is both {roles[i]} and {role}"
                else:
                    roles[i] = role
        if len(roles) != cap:
            yield f"{cap - len(roles)} slot(s) are in no role (leaked)"

    @_slots
    def _dead_slots_are_unpublished(self, facts: _Facts) -> Iterator[str]:
        seqs, cap = self._seqs, self._capacity
        for word, members in (("free", self._free_slots), ("removed", self._pending_slots)):
            for i in members:
                if 0 <= i < cap and seqs[i] != 0:
                    yield f"{word} slot {i} still has sequence number {int(seqs[i])} on disk"

    # -- live and stale slots on disk against memory -----------------------------------

    @_slots
    def _published_slots_match_memory(self, facts: _Facts) -> Iterator[str]:
        cap, stale = self._capacity, set(facts.stale)
        for i in [*facts.live, *(i for i in facts.stale if 0 <= i < cap)]:  # (the rest are
            yield from self._slot_on_disk(i, stale=i in stale)  # named above)

    def _slot_on_disk(self, i: int, *, stale: bool) -> Iterator[str]:
        """Slot ``i`` is published, in the arena, whole, and (when live) as in memory."""
        s, t, arena, size = self._slots[i], self._table, self._alloc.size, self._slot_size
        if int(s["seq"]) == 0:
            yield f"live or stale slot {i} is unpublished on disk"
            return
        o, n = int(s["off"]), int(s["length"])
        if o + n > arena:
            yield f"slot {i} extent [{o}, {o + n}) leaves the arena of {arena}"
            return
        e = self._emb_base + i * self._emb_stride
        if slot_checksum(self._slot_bytes[i * size : (i + 1) * size].data,
                         self._arena[o : o + n].data, self._header.version,
                         self._emb_mv[e : e + 4 * self._dim]) != int(s["crc"]):
            yield f"slot {i} fails its checksum"
        if stale:
            return
        ident = bytes(s["id"][: int(s["id_len"])]).decode("utf-8", "replace")
        if ident != t.ids[i]:
            yield f"slot {i} holds id {ident!r} on disk, {t.ids[i]!r} in memory"
        if (o, n) != (int(t.offsets[i]), int(t.lengths[i])):
            yield (f"slot {i} extent on disk ({o}, {n}) != in memory "
                   f"({int(t.offsets[i])}, {int(t.lengths[i])})")
        if float(s["confidence"]) != float(t.confidences[i]):
            yield f"slot {i} confidence on disk != in memory"
        if float(s["norm"]) != float(t.norms[i]):
            yield f"slot {i} norm on disk != in memory"

    @_slots
    def _score_weights_follow_the_norms(self, facts: _Facts) -> Iterator[str]:
        t = self._table
        expected = np.where(t.live, score_weights(t.norms), np.float32(0))
        for i in np.flatnonzero(t.weights != expected)[:10].tolist():
            why = f"its norm is {float(t.norms[i]):.6g}" if t.live[i] else "it is not live"
            yield (f"slot {i} has score weight {float(t.weights[i]):.6g}, expected "
                   f"{float(expected[i]):.6g} ({why})")

    @_slots
    def _next_sequence_number_is_unused(self, facts: _Facts) -> Iterator[str]:
        cap = self._capacity
        slots = [*facts.live, *(i for i in facts.stale if 0 <= i < cap)]
        newest = max((int(self._seqs[i]) for i in slots), default=0)
        if newest >= self._next_seq:
            yield f"a slot has sequence number {newest} >= next {self._next_seq}"

    # -- extents and byte counters ------------------------------------------------------

    @_slots
    def _held_extents_are_disjoint(self, facts: _Facts) -> Iterator[str]:
        prev_end = 0
        for o, n in facts.extents:
            if o < prev_end:
                yield f"extent at {o} overlaps the one ending at {prev_end}"
            prev_end = max(prev_end, o + n)

    @_slots
    def _allocator_holds_exactly_the_held_extents(self, facts: _Facts) -> Iterator[str]:
        held = sum(n for _, n in facts.extents)
        if held != self._alloc.allocated_bytes:
            yield (f"live + pending extents hold {held} bytes; the allocator has "
                   f"{self._alloc.allocated_bytes} allocated")
        for o, n in self._alloc.free_extents():
            for eo, en in facts.extents:
                if eo < o + n and o < eo + en:
                    yield f"free extent [{o}, {o + n}) overlaps a held extent at {eo}"
                    break

    @_slots
    def _live_byte_counter_is_the_sum_of_live_lengths(self, facts: _Facts) -> Iterator[str]:
        live = facts.live
        live_bytes = int(self._table.lengths[live].sum()) if live else 0
        if live_bytes != self._live_bytes:
            yield f"live byte counter {self._live_bytes} != sum of live lengths {live_bytes}"


Invariants.SHAPE_INVARIANTS = tuple(_SHAPES)
Invariants.SLOT_INVARIANTS = tuple(_SLOTS)
