"""Allocator: splitting a free extent leaves its last allocated byte in the free remainder.

The remainder of a split starts at ``offset + n - 1`` instead of ``offset + n``, so the
next allocation from it overlaps the previous record's last content byte.
"""

from __future__ import annotations

from warmtier.allocator import ExtentAllocator
from warmtier.store import WarmTierStore

from ._support import allocator_swap

CATEGORY = "allocator"
CAUGHT_BY = ("properties",)


class _OffByOneSplit(ExtentAllocator):
    def allocate(self, n: int) -> int | None:
        offset = super().allocate(n)
        if offset is None:
            return None
        rest = self._by_offset.get(offset + n)
        if rest is not None:  # the split's remainder: move its start back one byte
            self._remove(offset + n, rest)
            self._insert(offset + n - 1, rest + 1)  # BUG: should stay at offset + n
        elif self._tail == offset + n < self._size:  # the remainder is the free tail
            self._tail -= 1  # BUG: likewise
            self._free_bytes += 1
        return offset


class SplitOffByOneStore(WarmTierStore):
    """Reference store whose allocator splits extents one byte short."""

    _alloc = allocator_swap(_OffByOneSplit)
