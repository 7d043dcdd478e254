"""``ExtentAllocator.check()`` names each kind of corruption, and ``free`` refuses empty
extents.

Found by mutation testing: with a healthy allocator ``check()`` returns ``[]`` whatever
its conditions say, so mutants that weakened them (``and`` for ``or``, ``off - n`` for
``off + n``) survived every suite. Each test here corrupts one internal index on purpose.
"""

from __future__ import annotations

import pytest

from warmtier.allocator import AllocatorError, ExtentAllocator

pytestmark = pytest.mark.reference_only


def _full(size: int = 100) -> ExtentAllocator:
    alloc = ExtentAllocator(size)
    assert alloc.allocate(size) == 0
    assert alloc.check() == []
    return alloc


def _named(alloc: ExtentAllocator, phrase: str) -> None:
    problems = alloc.check()
    assert any(isinstance(p, str) and phrase in p for p in problems), (
        f"expected a problem naming {phrase!r}; check() gave {problems!r}"
    )


def test_check_names_a_free_extent_of_zero_length() -> None:
    alloc = _full()
    alloc._insert(10, 0)
    _named(alloc, "has length 0")


@pytest.mark.parametrize(("off", "n"), [(95, 10), (100, 1)])
def test_check_names_a_free_extent_that_leaves_the_arena(off: int, n: int) -> None:
    alloc = _full()
    alloc._insert(off, n)
    _named(alloc, "leaves the arena")


def test_check_names_overlapping_free_extents() -> None:
    alloc = _full()
    alloc._insert(10, 10)
    alloc._insert(15, 10)
    _named(alloc, "overlap at 15")


def test_check_names_adjacent_free_extents_that_were_not_coalesced() -> None:
    alloc = _full()
    alloc._insert(10, 10)
    alloc._insert(20, 10)
    _named(alloc, "not coalesced at 20")
    assert not any("overlap" in p for p in alloc.check()), alloc.check()


def test_check_names_indexes_that_disagree() -> None:
    alloc = _full()
    alloc._insert(10, 10)
    del alloc._by_offset[10]
    _named(alloc, "indexes disagree")


def test_check_names_a_wrong_free_byte_counter() -> None:
    alloc = _full()
    alloc._free_bytes += 1
    _named(alloc, "free byte counter")


def test_freeing_an_empty_extent_is_refused() -> None:
    alloc = _full()
    with pytest.raises(AllocatorError):
        alloc.free(10, 0)
    assert alloc.check() == []
