"""Regression: rebuilding the allocator from extents with gaps over 32 KiB overflowed int64.

The size index keys are ``length << 48 | offset``; computing them in numpy int64 wrapped
for lengths of 2**15 and more, so the first free that coalesced with such a gap raised
``ValueError: ... not in list``. Found by the lead's smoke run during development.
"""

from __future__ import annotations

from warmtier.allocator import ExtentAllocator


def test_allocator_rebuilt_with_large_gaps_coalesces_on_free() -> None:
    alloc = ExtentAllocator.from_allocated(1 << 20, [0, 100_000], [10, 10])
    assert alloc.check() == []
    alloc.free(0, 10)  # merges with the 99,990-byte gap that follows
    assert alloc.free_extents()[0] == (0, 100_000)
    assert alloc.allocate(99_000) == 0
    assert alloc.check() == []
