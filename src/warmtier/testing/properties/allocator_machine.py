"""The allocator machine: :class:`~warmtier.allocator.ExtentAllocator` step by step
against an ownership map of the arena (one owner per byte)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    multiple,
    rule,
)

from warmtier.allocator import AllocatorError, ExtentAllocator
from warmtier.testing.properties.machine_base import counted, event, target

__all__ = ["AllocatorMachine", "allocator_machine"]


class AllocatorMachine(RuleBasedStateMachine):
    """:class:`~warmtier.allocator.ExtentAllocator` against an ownership map of the arena.

    The model is a list with one owner per byte (``-1`` free). Every allocation must land
    on bytes the model says are free, at the start of the smallest free run that fits
    (lowest offset among equals); ``None`` only when no free run fits; after every step
    the allocator's free extents are exactly the model's maximal free runs (so freed
    space is coalesced and reusable), and ``check()`` finds nothing.
    """

    extents = Bundle("extents")

    def __init__(self) -> None:
        super().__init__()
        self.alloc = ExtentAllocator(0)
        self.owner: list[int] = []
        self.live: dict[int, tuple[int, int]] = {}
        self.next_tag = 0
        self.grows = 0

    def free_runs(self) -> list[tuple[int, int]]:
        runs: list[tuple[int, int]] = []
        start = None
        for i, who in enumerate([*self.owner, 0]):
            if who == -1 and start is None:
                start = i
            elif who != -1 and start is not None:
                runs.append((start, i - start))
                start = None
        return runs

    @initialize(size=st.integers(0, 256))
    def start(self, size: int) -> None:
        self.alloc = ExtentAllocator(size)
        self.owner = [-1] * size

    @rule(target=extents, n=st.one_of(st.integers(1, 64), st.sampled_from([1, 2, 8, 255, 256])))
    @counted
    def allocate(self, n: int) -> Any:
        runs = self.free_runs()
        fitting = sorted((length, off) for off, length in runs if length >= n)
        got = self.alloc.allocate(n)
        if not fitting:
            assert got is None, (
                f"allocate({n}) with no free run of {n} bytes (free runs {runs})\n"
                f"  expected: None\n  actual:   {got}"
            )
            event("allocator: request did not fit")
            return multiple()
        want = fitting[0][1]
        assert got == want, (
            f"allocate({n}): best fit is the smallest free run that holds it, lowest offset "
            f"first (free runs {runs})\n  expected: {want}\n  actual:   {got}"
        )
        assert got is not None
        clash = [o for o in self.owner[got:got + n] if o != -1]
        assert not clash, f"allocate({n}) -> {got} overlaps extents owned by {set(clash)}"
        tag = self.next_tag
        self.next_tag += 1
        self.owner[got:got + n] = [tag] * n
        self.live[tag] = (got, n)
        event("allocator: exact fit" if fitting[0][0] == n else "allocator: split")
        return tag

    @rule(tag=consumes(extents))
    @counted
    def free(self, tag: int) -> None:
        if tag not in self.live:
            return  # freed by free_many meanwhile
        offset, n = self.live.pop(tag)
        self.alloc.free(offset, n)
        self.owner[offset:offset + n] = [-1] * n
        left = offset > 0 and self.owner[offset - 1] == -1
        right = offset + n < len(self.owner) and self.owner[offset + n] == -1
        event(f"allocator: free merges {'both sides' if left and right else 'one side' if left or right else 'nothing'}")

    @rule(data=st.data())
    @counted
    def free_many(self, data: st.DataObject) -> None:
        """A batch of live extents freed at once (as a sync frees its pending extents)."""
        if not self.live:
            return
        every = sorted(self.live)
        tags = every if data.draw(st.booleans()) else data.draw(
            st.lists(st.sampled_from(every), min_size=1, unique=True))
        extents = [self.live.pop(tag) for tag in tags]
        self.alloc.free_many(extents)
        for offset, n in extents:
            self.owner[offset:offset + n] = [-1] * n
        adjacent = sum(1 for o, _ in extents if any(p + m == o for p, m in extents))
        event(f"allocator: batch free of {min(len(extents), 3)}{'+' if len(extents) > 3 else ''}"
              f" extents, {'some' if adjacent else 'none'} adjacent")

    @rule(offset=st.integers(0, 300), n=st.integers(1, 40))
    @counted
    def double_or_foreign_free_is_refused(self, offset: int, n: int) -> None:
        """Freeing bytes that are not one whole allocated extent... if any are free, it
        must raise AllocatorError and change nothing."""
        span = self.owner[offset:offset + n]
        if offset + n <= len(self.owner) and all(o != -1 for o in span):
            return  # all owned: the allocator cannot tell; not a misuse it must detect
        before = self.alloc.free_extents()
        try:
            self.alloc.free(offset, n)
        except AllocatorError:
            event("allocator: bad free refused")
        else:
            raise AssertionError(f"free({offset}, {n}) over free or outside bytes was accepted")
        assert self.alloc.free_extents() == before, "a refused free changed the free extents"

    @rule(extra=st.integers(0, 128))
    @counted
    def grow(self, extra: int) -> None:
        self.alloc.grow(len(self.owner) + extra)
        self.owner.extend([-1] * extra)
        self.grows += 1

    @rule()
    @counted
    def rebuild_from_allocated(self) -> None:
        """Recovery: from_allocated(size, live extents) gives the same free extents."""
        offs = [o for o, _ in self.live.values()]
        lens = [n for _, n in self.live.values()]
        rebuilt = ExtentAllocator.from_allocated(len(self.owner), offs, lens)
        assert rebuilt.free_extents() == self.free_runs(), (
            f"from_allocated\n  expected: {self.free_runs()}\n  actual:   {rebuilt.free_extents()}"
        )
        assert rebuilt.check() == [], rebuilt.check()
        self.alloc = rebuilt

    @invariant()
    def matches_ownership_map(self) -> None:
        problems = self.alloc.check()
        assert not problems, f"ExtentAllocator.check(): {problems}"
        runs = self.free_runs()
        assert self.alloc.free_extents() == runs, (
            f"free extents must be the maximal free runs (coalesced)\n  expected: {runs}\n"
            f"  actual:   {self.alloc.free_extents()}"
        )
        free = sum(n for _, n in runs)
        assert self.alloc.size == len(self.owner)
        assert self.alloc.free_bytes == free, (self.alloc.free_bytes, free)
        assert self.alloc.allocated_bytes == len(self.owner) - free
        assert self.alloc.largest_free == max((n for _, n in runs), default=0)
        high = max((o + n for o, n in self.live.values()), default=0)
        assert self.alloc.high_water == high, (
            f"high_water\n  expected: {high}\n  actual:   {self.alloc.high_water}"
        )

    def teardown(self) -> None:
        target(float(len(self.alloc.free_extents())), label="free extents")
        target(float(self.grows), label="grows")


def allocator_machine() -> type[AllocatorMachine]:
    """The allocator machine class (a function, for symmetry with :func:`store_machine`)."""
    return AllocatorMachine
