"""ExtentAllocator by example: best fit, splitting, coalescing, growth, recovery, misuse.

The allocator machine in tests/properties checks the same rules on random sequences;
these examples pin each rule down by name."""

from __future__ import annotations

import pytest

from warmtier.allocator import AllocatorError, ExtentAllocator


def test_allocations_are_carved_from_the_front_of_a_fresh_arena() -> None:
    a = ExtentAllocator(100)
    assert [a.allocate(10), a.allocate(20), a.allocate(30)] == [0, 10, 30]
    assert a.free_extents() == [(60, 40)]
    assert (a.free_bytes, a.allocated_bytes, a.high_water) == (40, 60, 60)


def test_best_fit_takes_the_smallest_hole_that_holds_the_request() -> None:
    a = ExtentAllocator(100)
    offs = [a.allocate(10) for _ in range(10)]
    a.free(offs[1], 10)  # hole of 10 at 10
    a.free(offs[4], 10)
    a.free(offs[5], 10)  # hole of 20 at 40
    assert a.allocate(15) == 40, "the 10-byte hole is too small, the 20-byte one fits"
    assert a.allocate(10) == 10, "exact fit beats the 5 bytes left at 55"


def test_best_fit_prefers_the_lowest_offset_among_equal_holes() -> None:
    a = ExtentAllocator(60)
    offs = [a.allocate(10) for _ in range(6)]
    a.free(offs[4], 10)
    a.free(offs[1], 10)
    assert a.allocate(10) == 10


def test_a_request_larger_than_every_hole_gets_none_and_changes_nothing() -> None:
    a = ExtentAllocator(30)
    a.allocate(10)
    before = a.free_extents()
    assert a.allocate(21) is None
    assert a.free_extents() == before


def test_free_coalesces_with_both_neighbours() -> None:
    a = ExtentAllocator(30)
    x, y, z = a.allocate(10), a.allocate(10), a.allocate(10)
    a.free(x, 10)
    a.free(z, 10)
    assert a.free_extents() == [(0, 10), (20, 10)]
    a.free(y, 10)
    assert a.free_extents() == [(0, 30)]
    assert a.check() == []


def test_freed_space_is_reusable_at_once() -> None:
    a = ExtentAllocator(20)
    x = a.allocate(20)
    assert x == 0 and a.allocate(1) is None
    a.free(x, 20)
    assert a.allocate(20) == 0


def test_double_free_and_overlapping_free_are_refused() -> None:
    a = ExtentAllocator(30)
    x = a.allocate(10)
    a.free(x, 10)
    with pytest.raises(AllocatorError, match="double free"):
        a.free(x, 10)
    y = a.allocate(10)
    with pytest.raises(AllocatorError, match="double free"):
        a.free(y + 5, 10)  # runs into the free tail


def test_free_outside_the_arena_and_bad_sizes_are_refused() -> None:
    a = ExtentAllocator(10)
    with pytest.raises(AllocatorError):
        a.free(5, 10)
    with pytest.raises(AllocatorError):
        a.allocate(0)
    with pytest.raises(AllocatorError):
        a.free(0, 0)
    with pytest.raises(AllocatorError):
        ExtentAllocator(-1)


def test_grow_merges_the_new_tail_with_a_free_tail() -> None:
    a = ExtentAllocator(20)
    a.allocate(10)
    a.grow(50)
    assert a.free_extents() == [(10, 40)]
    a.allocate(40)
    a.grow(60)
    assert a.free_extents() == [(50, 10)]
    with pytest.raises(AllocatorError):
        a.grow(10)


def test_high_water_is_the_end_of_the_last_allocated_extent() -> None:
    a = ExtentAllocator(100)
    assert a.high_water == 0
    x = a.allocate(10)
    y = a.allocate(10)
    assert a.high_water == 20
    a.free(y, 10)
    assert a.high_water == 10
    a.free(x, 10)
    assert a.high_water == 0


def test_from_allocated_rebuilds_the_free_extents_and_refuses_overlap() -> None:
    a = ExtentAllocator.from_allocated(100, [10, 50, 0], [5, 10, 0])
    assert a.free_extents() == [(0, 10), (15, 35), (60, 40)]
    assert a.check() == []
    with pytest.raises(AllocatorError, match="overlap"):
        ExtentAllocator.from_allocated(100, [0, 5], [10, 10])
    with pytest.raises(AllocatorError, match="outside"):
        ExtentAllocator.from_allocated(100, [95], [10])


def test_rebuilding_from_overlapping_extents_names_the_pair_that_overlaps() -> None:
    # [0, 10) and [10, 20) only touch; the overlap is the later pair, away from the first
    with pytest.raises(AllocatorError) as info:
        ExtentAllocator.from_allocated(100, [40, 0, 10, 15], [5, 10, 10, 10])
    assert str(info.value) == "allocated extents overlap: [10, 20) and [15, 25)"
