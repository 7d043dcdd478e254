"""Allocator: best fit searches from ``n - 1``, so an extent one byte too small can win.

A request of ``n`` bytes takes a free hole of exactly ``n - 1`` bytes when one exists;
the record's last content byte lands on whatever follows the hole.
"""

from __future__ import annotations

from warmtier.allocator import ExtentAllocator
from warmtier.store import WarmTierStore

from ._support import allocator_swap

CATEGORY = "allocator"
CAUGHT_BY = ("regressions", "properties")


class _TooSmallFit(ExtentAllocator):
    def allocate(self, n: int) -> int | None:
        if n > 1:
            # BUG: the best-fit search starts at n - 1; the lowest hole of exactly that
            # size is the smallest candidate, and it is taken whole.
            for offset, length in self._by_offset.items():
                if length == n - 1:
                    self._remove(offset, length)
                    return int(offset)
        return super().allocate(n)


class BestFitTooSmallStore(WarmTierStore):
    """Reference store whose allocator may return an extent one byte short."""

    _alloc = allocator_swap(_TooSmallFit)
