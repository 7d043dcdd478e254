"""The store machine's state and checks: a store under test and a model side by side,
the steps rules share (put, get, remove, reopen) and the whole-state invariant.

The rules themselves are in :mod:`warmtier.testing.properties.store_machine`.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar, TypeVar

import numpy as np
from hypothesis import currently_in_test_context
from hypothesis import event as _hypothesis_event
from hypothesis import target as _hypothesis_target
from hypothesis.stateful import RuleBasedStateMachine, invariant

from warmtier.errors import (
    CapacityError,
    InvalidArgumentError,
    StoreClosedError,
    StoreLockedError,
    WarmTierError,
)
from warmtier.model import ModelStore
from warmtier.records import Record
from warmtier.testing import compare, exercised
from warmtier.testing.compare import StoreMismatch, mismatch
from warmtier.testing.properties import strategies as S
from warmtier.testing.subject import Subject, owned_scratch
from warmtier.validation import DEFAULT_MAX_CONTENT

__all__ = ["StoreMachineBase", "counted", "event", "target"]

def event(value: str) -> None:
    """``hypothesis.event``, ignored outside a test (a pasted counterexample program)."""
    if currently_in_test_context():
        _hypothesis_event(value)
        exercised.occurred(value)


def target(observation: float, *, label: str) -> None:
    """``hypothesis.target``, ignored outside a test."""
    if currently_in_test_context():
        _hypothesis_target(observation, label=label)


F = TypeVar("F", bound=Callable[..., Any])


def counted(function: F) -> F:
    """Record an ``event`` naming the rule each time it runs, so
    ``--hypothesis-show-statistics`` shows how often every rule ran."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        event(f"rule: {function.__name__}")
        return function(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _describe_embedding(values: Any) -> list[str]:
    emb = S.to_float32(values)
    tags = []
    if not np.any(emb):
        tags.append("zero-norm embedding")
    if np.any(np.signbit(emb) & (emb == 0)):
        tags.append("embedding holds -0.0")
    tiny = np.abs(emb)
    if np.any((tiny > 0) & (tiny < np.finfo(np.float32).smallest_normal)):
        tags.append("embedding holds a subnormal")
    if np.any(tiny == np.finfo(np.float32).max):
        tags.append("embedding holds +-float32 max")
    return tags


def _size_class(n: int) -> str:
    if n == 0:
        return "empty"
    if n == 1:
        return "1 byte"
    if n in S.BOUNDARY_SIZES:
        return "allocator boundary size"
    if n < 1024:
        return "under 1 KiB"
    if n <= 65536:
        return "1 KiB to 64 KiB"
    return "over 64 KiB"


class StoreMachineBase(RuleBasedStateMachine):
    """State and helpers of the store machine; :class:`~warmtier.testing.properties.store_machine.
    StoreMachine` adds the rules, and :func:`~warmtier.testing.properties.store_machine.store_machine`
    binds it to a store class and a dimension.

    The store under test and a :class:`~warmtier.model.ModelStore` receive the same
    calls; every return value is compared, and after every step the invariant compares
    the whole state (``len``, ``ids``, every record, ``stats``, ``check()``).
    """

    store_class: ClassVar[type[Any]]
    dim: ClassVar[int]
    workdir: ClassVar[str | None] = None
    #: Verify every record after every step up to this many records.
    full_check_limit: ClassVar[int] = 64
    window_size: ClassVar[int] = 16

    def __init__(self) -> None:
        super().__init__()
        self.dir = owned_scratch("warmtier-machine-", self.workdir)
        self.path = os.path.join(self.dir, "store")
        self.store: Any = None
        self.model = ModelStore(self.dim)
        self.max_content = DEFAULT_MAX_CONTENT
        self.options: dict[str, Any] = {}
        self.handed_out: list[tuple[Any, Record]] = []
        self.capacity_seen = 0
        self.content_capacity_seen = 0
        self.growths = 0
        self.max_records = 0
        self.max_fragmentation = 0.0
        self.reopens = 0
        self.bulk_count = 0
        self.touched: set[str] = set()
        self.durable_state: dict[str, Record] = {}
        self.since_durable: list[tuple[str, Any]] = []
        subject = Subject.of(self.store_class)
        #: The reference store's promise: an abandoned object loses nothing completed.
        self.exact_after_abandon = subject.no_loss
        #: The reference store itself: its own definitions (stats formulas, compaction
        #: measure, content capacity) are checked for it alone.
        self.reference = subject.is_reference
        #: check() is the reference store's; optional for other stores.
        self.has_check = subject.has_check
        #: The batch calls the store declares: their rules are drawn for those alone.
        self.batch_calls = subject.batch_calls
        self.freed_sizes: list[int] = []
        self.history: dict[str, list[Record]] = {}
        self.verify_all = True
        self.window = 0

    # -- helpers ---------------------------------------------------------------------

    def records(self) -> dict[str, Record]:
        """The model's live records by id."""
        return {r.id: r for r in self.model.scan()}

    def expect_same(self, what: str, expected: Any, actual: Any) -> None:
        if type(expected) is bool and type(actual) is not bool:
            raise mismatch(f"{what}: must return a bool", repr(expected), repr(actual))
        if expected != actual:
            raise mismatch(what, repr(expected), repr(actual))

    @contextmanager
    def rejected(self, what: str) -> Iterator[None]:
        """The block must raise InvalidArgumentError (the invariant then checks that
        nothing changed)."""
        try:
            yield
        except InvalidArgumentError:
            event(f"rejected: {what.split('(')[0]}")
            return
        except Exception as exc:
            raise mismatch(f"{what}: bad input must raise InvalidArgumentError",
                           "InvalidArgumentError", f"{type(exc).__name__}: {exc}") from exc
        raise mismatch(f"{what}: bad input was accepted", "InvalidArgumentError", "no error")

    def capacity_error_allowed(self, size: int) -> bool:
        """A configured limit can explain a CapacityError: every allowed slot is live, or
        the content needs arena space under a byte limit (holes may not fit it)."""
        slots = self.options.get("max_slots")
        arena = self.options.get("max_content_bytes")
        return bool((slots and len(self.model) >= slots) or (arena and size > 0))

    def do_put(self, id: str, embedding: Any, content: Any, confidence: float) -> bool:
        """Put into both; False if the store refused it (content over ``max_content``,
        or an allowed CapacityError)."""
        value = S.materialize(content)
        size = len(S.expected_content(content))
        before = self.model.get(id)
        self.touched.add(id)
        given = np.array(embedding, copy=True) if isinstance(embedding, np.ndarray) else embedding
        if size > self.max_content:
            with self.rejected(f"put({id!r}, content of {size} bytes > max_content)"):
                self.store.put(id, given, value, confidence)
            return False
        accepted, result = self.put_into_store(id, given, value, confidence, size)
        if not accepted:
            return False
        if isinstance(given, np.ndarray):
            given.fill(7)  # the caller reuses its buffer: the store must have copied it
        self.put_into_model(id, embedding, value, confidence, before)
        self.expect_same(f"put({id!r}, ...) returns None", None, result)
        self.note_put_events(id, embedding, value, size, before)
        return True

    def put_into_store(self, id: str, given: Any, value: Any, confidence: float,
                       size: int) -> tuple[bool, Any]:
        """The store's put of a valid record: (True, its result), or (False, None) when it
        refused with a CapacityError a configured limit explains."""
        try:
            return True, self.store.put(id, given, value, confidence)
        except InvalidArgumentError as exc:
            raise mismatch(
                f"put({id!r}, <{size} bytes>, confidence={confidence!r}) of a valid record "
                "was refused", "the put succeeds", f"InvalidArgumentError: {exc}") from exc
        except CapacityError as exc:
            if not self.capacity_error_allowed(size):
                raise mismatch(
                    f"put({id!r}, <{size} bytes>) raised CapacityError although no configured "
                    f"limit ({self.options}) is reached ({len(self.model)} live records)",
                    "the put succeeds", str(exc)) from exc
            event("put: refused with CapacityError (a configured limit)")
            return False, None

    def put_into_model(self, id: str, embedding: Any, value: Any, confidence: float,
                       before: Record | None) -> None:
        """The model's put, remembered for recovery (``since_durable``) and for the
        values a weakly consistent read may return (``history``)."""
        if before is not None:
            self.freed_sizes = [*self.freed_sizes[-15:], len(before.content)]
        self.model.put(id, embedding, value, confidence)
        put_now = self.model.get(id)
        assert put_now is not None
        self.since_durable.append(("put", put_now))
        self.history.setdefault(id, []).append(put_now)

    def note_put_events(self, id: str, embedding: Any, value: Any, size: int,
                        before: Record | None) -> None:
        """Events (``--hypothesis-show-statistics``) saying what kind of put this was."""
        event(f"put: content {_size_class(size)}")
        if isinstance(value, str):
            event("put: content given as str")
        if before is not None:
            change = (
                "same size" if len(before.content) == size
                else "grows" if size > len(before.content) else "shrinks"
            )
            event(f"put: replace, content {change}")
        if len(id.encode("utf-8")) == 255:
            event("put: id of exactly 255 bytes")
        if "\x00" in id:
            event("put: id holds NUL")
        for tag in _describe_embedding(embedding):
            event(f"put: {tag}")
        if len(self.model) <= self.full_check_limit:
            emb = S.to_float32(embedding).tobytes()
            if any(r.embedding.tobytes() == emb for r in self.model.scan() if r.id != id):
                event("put: duplicate of a live record's embedding")

    def do_get(self, id: str, what: str) -> None:
        self.touched.add(id)
        actual = self.store.get(id)
        expected = self.model.get(id)
        compare.assert_record_matches(actual, expected, what=f"{what}: get({id!r})")
        if actual is not None and expected is not None:
            self.handed_out = [*self.handed_out[-3:], (actual, expected)]

    def resolve(self, id: str, content: Any) -> Any:
        """A relative content (:class:`strategies.Resize`, :class:`strategies.NearFreed`)
        as a Blob, from the current record of ``id`` or the recently freed sizes."""
        if isinstance(content, S.Resize):
            old = self.model.get(id)
            old_content = old.content if old is not None else b""
            size = min(S.resized(len(old_content), content.how), self.max_content)
            blob = S.Blob(size, content.seed)
            if blob.materialize() == old_content:
                blob = S.Blob(size, content.seed + 1)
            event(f"put: replace resized {content.how}")
            return blob
        if isinstance(content, S.NearFreed):
            freed = self.freed_sizes or [0]
            size = freed[-1 - content.pick % len(freed)] + content.delta
            event(f"put: size next to a freed one ({content.delta:+d})")
            return S.Blob(min(max(0, size), self.max_content), content.seed)
        return content

    def expect_put_once(self, rec: Any, what: str) -> None:
        """``rec`` equals some value put for its id, at some time (never torn or mixed)."""
        candidates = self.history.get(rec.id, [])
        for candidate in reversed(candidates):
            try:
                compare.assert_record_matches(rec, candidate, what=what)
            except StoreMismatch:
                continue
            return
        raise mismatch(f"{what}: yielded a record that was never put",
                       f"one of {candidates!r}", repr(rec))

    def do_remove(self, id: str) -> None:
        self.touched.add(id)
        self.expect_same(f"remove({id!r})", self.remove_from_model(id), self.store.remove(id))

    def remove_from_model(self, id: str) -> bool:
        """The model's remove, remembered for recovery (``since_durable``) and for the
        sizes a put may land next to (``freed_sizes``)."""
        before = self.model.get(id)
        if before is not None:
            self.freed_sizes = [*self.freed_sizes[-15:], len(before.content)]
        self.since_durable.append(("remove", id))
        return self.model.remove(id)

    # -- durability points: what an abandoned store may come back as -----------------

    def note_durable(self) -> None:
        """A durability point (flush, compact, close): the model's state is on disk."""
        self.durable_state = self.records()
        self.since_durable = []

    def recovered_prefix(self, actual: dict[str, Record]) -> int | None:
        """The k such that the model after the last durability point and the first k
        operations since equals ``actual`` (the longest such k), else None."""
        state = dict(self.durable_state)
        found = 0 if compare.states_equal(actual, state) else None
        for k, (op, arg) in enumerate(self.since_durable, start=1):
            if op == "put":
                state[arg.id] = arg
            else:
                state.pop(arg, None)
            if compare.states_equal(actual, state):
                found = k
        return found

    def do_read(self, id: str, what: str) -> None:
        """get and ``in`` of one id."""
        self.do_get(id, f"get of {what}")
        self.expect_same(f"{id!r} in store ({what})", id in self.model, id in self.store)

    def expect_closed(self, old: Any, first: str) -> None:
        """A closed store object refuses every call with StoreClosedError (``first`` is
        tried first, so a counterexample names it)."""
        one = [1.0] * self.dim
        calls: dict[str, Callable[[], Any]] = {
            "len": lambda: len(old),
            "in": lambda: "a" in old,
            "get": lambda: old.get("a"),
            "put": lambda: old.put("a", one, b"x"),
            "remove": lambda: old.remove("a"),
            "ids": lambda: old.ids(),
            "scan": lambda: list(old.scan()),
            "search": lambda: old.search(one),
            "compact": lambda: old.compact(),
            "flush": lambda: old.flush(),
            "stats": lambda: old.stats(),
        }
        for probe in [first, *(name for name in calls if name != first)]:
            try:
                calls[probe]()
            except StoreClosedError:
                continue
            except Exception as exc:
                raise mismatch(f"{probe} after close()", "StoreClosedError",
                               f"{type(exc).__name__}: {exc}") from exc
            raise mismatch(f"{probe} after close()", "StoreClosedError", "no error")

    def reopen_store(self, compare_with_model: bool = True) -> None:
        try:
            self.store = self.store_class.open(self.path)
        except StoreLockedError:
            # An abandoned object caught in a reference cycle: collect it, then retry.
            gc.collect()
            self.store = self.store_class.open(self.path)
        self.reopens += 1
        path = getattr(self.store, "path", None)
        if path is not None and os.path.abspath(os.fspath(path)) != os.path.abspath(self.path):
            raise mismatch("store.path after open()", repr(self.path), repr(path))
        if compare_with_model:
            compare.assert_scan_matches(self.store.scan(), self.records())
        self.verify_all = True

    def ids_to_verify(self, expected: dict[str, Record]) -> list[str]:
        """Every live id while the store is small (or after a step that touched them all);
        in a big store, the ids this step touched and a rotating window of the others."""
        touched, self.touched, everything = self.touched, set(), self.verify_all
        self.verify_all = False
        if everything or len(expected) <= self.full_check_limit:
            return list(expected)
        order = sorted(expected)
        start = self.window % len(order)
        self.window += self.window_size
        window = (order + order)[start:start + self.window_size]
        return sorted(touched | set(window))

    # -- the whole-state invariant ---------------------------------------------------

    @invariant()
    def agrees_with_model(self) -> None:
        """len, ids, membership and every record equal the model's; stats agree; check()."""
        if self.store is None:
            return
        expected = self.records()
        self.expect_same("len(store)", len(expected), len(self.store))
        compare.assert_ids_match(self.store.ids(), expected)
        self.expect_same("store.dim", self.dim, self.store.dim)
        for rid in self.ids_to_verify(expected):
            compare.assert_record_matches(self.store.get(rid), expected.get(rid),
                                          what=f"get({rid!r})")
        for handed, value in self.handed_out:
            compare.assert_record_matches(
                handed, value, what="a Record handed out earlier (it must own its data)"
            )
        if self.has_check:
            self.store.check()
        stats = self.store.stats()
        compare.assert_stats_match(stats, expected, reference=self.reference)
        self.max_records = max(self.max_records, len(expected))
        self.max_fragmentation = max(self.max_fragmentation, float(stats.fragmentation))
        if not self.reference:
            return  # capacities by another store's measure say nothing about its growth
        if self.capacity_seen and stats.capacity > self.capacity_seen:
            self.growths += 1
            event("growth: slot capacity grew")
        self.capacity_seen = max(self.capacity_seen, stats.capacity)
        content_cap = stats.content_capacity_bytes
        if self.content_capacity_seen and content_cap > self.content_capacity_seen:
            self.growths += 1
            event("growth: content capacity grew")
        self.content_capacity_seen = max(self.content_capacity_seen, content_cap)

    def teardown(self) -> None:
        target(float(self.max_records), label="records")
        target(self.max_fragmentation, label="fragmentation")
        target(float(self.growths), label="growths")
        try:
            if self.store is not None:
                with contextlib.suppress(WarmTierError):
                    self.store.close()
        finally:  # a close that raises something else fails the example, and leaks nothing
            self.store = None
            self.handed_out = []
            if issubclass(self.store_class, ModelStore):
                ModelStore.forget(self.path)
            shutil.rmtree(self.dir, ignore_errors=True)


