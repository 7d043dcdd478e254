"""The offset allocator of the content arena: free extents kept in sortedcontainers.

Best fit (smallest extent that holds the request, lowest offset among equals), split on
allocate, coalesce with both neighbours on free. It knows nothing of files; the store
grows the arena and then calls :meth:`ExtentAllocator.grow`.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import numpy.typing as npt
from sortedcontainers import SortedDict, SortedList

__all__ = ["AllocatorError", "ExtentAllocator"]


_SHIFT = 48  # arenas up to 256 TiB
_MASK = (1 << _SHIFT) - 1


class AllocatorError(Exception):
    """A request the allocator's invariants forbid (double free, foreign extent, bad size)."""


class ExtentAllocator:
    """Hands out ``[offset, offset + size)`` extents of an arena of ``size`` bytes.

    Free extents live twice: ``_by_offset`` (offset -> length, for coalescing) and
    ``_by_size`` (sorted ``length << 48 | offset`` keys, for best fit: one int compares
    faster than a tuple). ``allocate`` and ``free`` are O(log n) in the free extents.
    The exception is the *tail*, the free extent that ends the arena, ``[_tail, size)``:
    it lives in ``_tail`` alone, so an appending writer carves each extent from it in
    O(1) (best fit still decides between it and the indexed extents), and growing the
    arena only moves ``size``.

    >>> a = ExtentAllocator(100)
    >>> a.allocate(30), a.allocate(30)
    (0, 30)
    >>> a.free(0, 30); a.allocate(10)
    0
    >>> a.free_extents()
    [(10, 20), (60, 40)]
    """

    def __init__(self, size: int) -> None:
        if not 0 <= size <= _MASK:
            raise AllocatorError(f"arena size must be in [0, 2**48]; got {size}")
        self._size = size
        self._by_offset: SortedDict = SortedDict()
        self._by_size: SortedList = SortedList()
        self._tail = 0  # [_tail, _size) is free, and no indexed extent ends at _tail
        self._free_bytes = size

    @classmethod
    def from_allocated(
        cls,
        size: int,
        offsets: npt.NDArray[np.int64] | Iterable[int],
        lengths: npt.NDArray[np.int64] | Iterable[int],
    ) -> ExtentAllocator:
        """An allocator whose allocated extents are exactly the given ones (for recovery).

        Raises AllocatorError if an extent leaves the arena or two extents overlap.
        Vectorized: the gaps are found with numpy, not a Python loop over extents.
        """
        offs = np.asarray(offsets, dtype=np.int64)
        lens = np.asarray(lengths, dtype=np.int64)
        nonzero = lens > 0
        offs, lens = offs[nonzero], lens[nonzero]
        order = np.argsort(offs, kind="stable")
        offs, lens = offs[order], lens[order]
        ends = offs + lens
        if len(offs) and (offs[0] < 0 or ends.max() > size):
            raise AllocatorError("an allocated extent lies outside the arena")
        if len(offs) > 1 and bool((offs[1:] < ends[:-1]).any()):
            i = int(np.flatnonzero(offs[1:] < ends[:-1])[0])
            raise AllocatorError(
                f"allocated extents overlap: [{offs[i]}, {ends[i]}) and "
                f"[{offs[i + 1]}, {ends[i + 1]})"
            )
        gap_starts = np.concatenate(([0], ends))
        gap_ends = np.concatenate((offs, [size]))
        keep = gap_ends > gap_starts
        starts, gap_lens = gap_starts[keep], (gap_ends - gap_starts)[keep]
        alloc = cls(0)
        alloc._size = size
        alloc._free_bytes = int(gap_lens.sum())
        alloc._tail = size
        if len(starts) and int(starts[-1] + gap_lens[-1]) == size:
            alloc._tail = int(starts[-1])
            starts, gap_lens = starts[:-1], gap_lens[:-1]
        alloc._by_offset = SortedDict(zip(starts.tolist(), gap_lens.tolist(), strict=True))
        alloc._by_size = SortedList(
            (n << _SHIFT) | o for n, o in zip(gap_lens.tolist(), starts.tolist(), strict=True)
        )
        return alloc

    # -- queries ---------------------------------------------------------------------

    @property
    def size(self) -> int:
        """Bytes in the arena."""
        return self._size

    @property
    def free_bytes(self) -> int:
        """Bytes in free extents."""
        return self._free_bytes

    @property
    def allocated_bytes(self) -> int:
        """Bytes in allocated extents."""
        return self._size - self._free_bytes

    @property
    def high_water(self) -> int:
        """End of the last allocated extent (0 if none): the span in use, holes included."""
        return self._tail

    @property
    def largest_free(self) -> int:
        """Length of the largest free extent (0 if none)."""
        indexed = int(self._by_size[-1] >> _SHIFT) if self._by_size else 0
        return max(indexed, self._size - self._tail)

    def free_extents(self) -> list[tuple[int, int]]:
        """Free extents as ``(offset, length)``, by offset."""
        extents = [(int(o), int(n)) for o, n in self._by_offset.items()]
        if self._tail < self._size:
            extents.append((self._tail, self._size - self._tail))
        return extents

    # -- changes ---------------------------------------------------------------------

    def allocate(self, n: int) -> int | None:
        """Offset of a new extent of ``n`` > 0 bytes, or None if no free extent holds it."""
        if n <= 0:
            raise AllocatorError(f"allocation size must be positive; got {n}")
        tail_length = self._size - self._tail
        by_size = self._by_size
        if by_size:
            i = by_size.bisect_left(n << _SHIFT)
            if i < len(by_size):
                key = by_size[i]
                length = key >> _SHIFT
                if not n <= tail_length < length:  # the tail is not the better fit
                    offset = key & _MASK
                    self._remove(offset, length)
                    if length > n:
                        self._insert(offset + n, length - n)
                    return int(offset)
        if tail_length < n:
            return None
        offset = self._tail
        self._tail = offset + n
        self._free_bytes -= n
        return offset

    def free(self, offset: int, n: int) -> None:
        """Return ``[offset, offset + n)`` to the free extents, merged with its neighbours."""
        if n <= 0:
            raise AllocatorError(f"free size must be positive; got {n}")
        end = offset + n
        if offset < 0 or end > self._size:
            raise AllocatorError(f"free of [{offset}, {end}) outside the arena of {self._size}")
        if end > self._tail:
            raise AllocatorError(f"double free: [{offset}, {end}) overlaps the free tail")
        idx = self._by_offset.bisect_right(offset)
        if idx > 0:
            prev_off = self._by_offset.keys()[idx - 1]
            prev_len = self._by_offset[prev_off]
            if prev_off + prev_len > offset:
                raise AllocatorError(f"double free: [{offset}, {end}) overlaps a free extent")
        if idx < len(self._by_offset):
            next_off = self._by_offset.keys()[idx]
            if next_off < end:
                raise AllocatorError(f"double free: [{offset}, {end}) overlaps a free extent")
        start, length = offset, n
        if idx > 0:
            prev_off = self._by_offset.keys()[idx - 1]
            prev_len = self._by_offset[prev_off]
            if prev_off + prev_len == offset:
                self._remove(prev_off, prev_len)
                start, length = prev_off, length + prev_len
        if end == self._tail:
            self._tail = start
            self._free_bytes += length
            return
        nxt = self._by_offset.get(end)
        if nxt is not None:
            self._remove(end, nxt)
            length += nxt
        self._insert(start, length)

    def free_many(self, extents: Iterable[tuple[int, int]]) -> None:
        """Free every ``(offset, n)`` of ``extents``, as :meth:`free` would one by one, but
        with each run of adjacent extents merged first: one index update per run (a sync
        after many replaces frees thousands of neighbours).

        >>> a = ExtentAllocator(100); [a.allocate(10) for _ in range(3)]
        [0, 10, 20]
        >>> a.free_many([(10, 10), (0, 10)]); a.free_extents()
        [(0, 20), (30, 70)]
        """
        run_off, run_len = -1, 0
        for offset, n in sorted(extents):
            if n <= 0:
                raise AllocatorError(f"free size must be positive; got {n}")
            if offset == run_off + run_len:
                run_len += n
                continue
            if offset < run_off + run_len:
                raise AllocatorError(f"double free: [{offset}, {offset + n}) is freed twice")
            if run_len:
                self.free(run_off, run_len)
            run_off, run_len = offset, n
        if run_len:
            self.free(run_off, run_len)

    def grow(self, new_size: int) -> None:
        """Extend the arena to ``new_size`` bytes; the new tail is free (merged with the old)."""
        if new_size < self._size:
            raise AllocatorError(f"cannot shrink the arena from {self._size} to {new_size}")
        self._free_bytes += new_size - self._size
        self._size = new_size  # the tail (empty or not) now runs to the new end

    # -- invariants ------------------------------------------------------------------

    def check(self) -> list[str]:
        """Every violated invariant, one line each (empty when all hold)."""
        problems: list[str] = []
        by_offset = [(int(o), int(n)) for o, n in self._by_offset.items()]
        by_size = sorted((k & _MASK, k >> _SHIFT) for k in self._by_size)
        if by_offset != by_size:
            problems.append("allocator: the by-offset and by-size indexes disagree")
        if not 0 <= self._tail <= self._size:
            problems.append(f"allocator: the free tail starts at {self._tail}, outside the arena")
        elif self._tail < self._size:
            by_offset = sorted([*by_offset, (self._tail, self._size - self._tail)])
        total = 0
        prev_end = -1
        for off, n in by_offset:
            if n <= 0:
                problems.append(f"allocator: free extent at {off} has length {n}")
            if off < 0 or off + n > self._size:
                problems.append(f"allocator: free extent [{off}, {off + n}) leaves the arena")
            if off < prev_end:
                problems.append(f"allocator: free extents overlap at {off}")
            elif off == prev_end:
                problems.append(f"allocator: free extents not coalesced at {off}")
            prev_end = off + n
            total += n
        if total != self._free_bytes:
            problems.append(
                f"allocator: free byte counter {self._free_bytes} != sum of free extents {total}"
            )
        return problems

    # -- internals -------------------------------------------------------------------

    def _insert(self, offset: int, n: int) -> None:
        self._by_offset[offset] = n
        self._by_size.add((n << _SHIFT) | offset)
        self._free_bytes += n

    def _remove(self, offset: int, n: int) -> None:
        del self._by_offset[offset]
        self._by_size.remove((n << _SHIFT) | offset)
        self._free_bytes -= n

    def __repr__(self) -> str:
        return (
            f"<ExtentAllocator size={self._size} free={self._free_bytes} "
            f"extents={len(self._by_offset)}>"
        )
