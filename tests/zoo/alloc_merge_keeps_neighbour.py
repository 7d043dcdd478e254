"""Allocator: coalescing forward keeps the neighbour, so two free extents overlap.

``free`` merges the freed extent with the free extent that follows it but never removes
that neighbour; its bytes are then free twice and two later allocations can overlap.
"""

from __future__ import annotations

from typing import Any

from warmtier.allocator import ExtentAllocator
from warmtier.store import WarmTierStore

CATEGORY = "allocator"
CAUGHT_BY = ("properties",)


class MergeKeepsNeighbourStore(WarmTierStore):
    """Reference store whose allocator merges forward without dropping the neighbour."""

    class _Allocator(ExtentAllocator):
        def free(self, offset: int, n: int) -> None:
            nxt = self._by_offset.get(offset + n)
            if nxt is None and offset + n == self._tail < self._size:  # the free tail
                self._insert(offset, n + self._size - self._tail)  # BUG: the tail stays too
                return
            if nxt is None:
                super().free(offset, n)
                return
            self._insert(offset, n + nxt)  # BUG: the neighbour at offset + n stays

    @property
    def _alloc(self) -> ExtentAllocator:
        return self.__dict__["_alloc"]  # type: ignore[no-any-return]

    @_alloc.setter
    def _alloc(self, value: Any) -> None:
        value.__class__ = self._Allocator
        self.__dict__["_alloc"] = value
