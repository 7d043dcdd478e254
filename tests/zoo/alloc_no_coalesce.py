"""Allocator: a freed extent is merged with its left neighbour but never with its right.

Free space fragments into runs of adjacent extents that no request larger than each
piece can use, so the arena grows while free bytes pile up.
"""

from __future__ import annotations

from warmtier.allocator import ExtentAllocator
from warmtier.store import WarmTierStore

from ._support import allocator_swap

CATEGORY = "allocator"
CAUGHT_BY = ("properties",)


class _NoRightCoalesce(ExtentAllocator):
    def free(self, offset: int, n: int) -> None:
        right = self._by_offset.get(offset + n)
        if right is None and offset + n == self._tail < self._size:  # the free tail
            tail, right = self._tail, self._size - self._tail
            self._tail, self._free_bytes = self._size, self._free_bytes - right
            try:
                super().free(offset, n)  # merges with the left neighbour only ...
            finally:
                self._tail, self._free_bytes = tail, self._free_bytes + right  # BUG: likewise
            return
        if right is None:
            super().free(offset, n)
            return
        self._remove(offset + n, right)
        try:
            super().free(offset, n)  # merges with the left neighbour only ...
        finally:
            self._insert(offset + n, right)  # BUG: ... the right one stays separate


class NoCoalesceStore(WarmTierStore):
    """Reference store whose allocator does not coalesce with the following extent."""

    _alloc = allocator_swap(_NoRightCoalesce)
