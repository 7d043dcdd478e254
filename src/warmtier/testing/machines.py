"""Hypothesis state machines that attack a store (and the offset allocator) step by step,
checking every answer against a trivially correct model after every step.

``store_machine(MyStore)`` binds the store machine to any class with the contract's
``create``/``open``; ``run_machine`` runs a machine and adds the one-line replay command.

>>> from warmtier.model import ModelStore
>>> Machine = store_machine(ModelStore, dim=3)
>>> run_machine(Machine, settings=settings(max_examples=2, database=None))
"""

from __future__ import annotations

import contextlib
import functools
import gc
import inspect
import itertools
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar, TypeVar

import hypothesis
import numpy as np
from hypothesis import currently_in_test_context, settings
from hypothesis import event as _hypothesis_event
from hypothesis import strategies as st
from hypothesis import target as _hypothesis_target
from hypothesis.stateful import (
    Bundle,
    MultipleResults,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)

from warmtier.allocator import AllocatorError, ExtentAllocator
from warmtier.errors import (
    CapacityError,
    InvalidArgumentError,
    StoreClosedError,
    StoreLockedError,
    WarmTierError,
)
from warmtier.model import ModelStore
from warmtier.records import Record
from warmtier.testing import compare
from warmtier.testing import strategies as S
from warmtier.testing.compare import ReplayContext, StoreMismatch
from warmtier.testing.subject import KNOWN_CREATE_OPTIONS, SIZING_HINTS, Subject, scratch_root
from warmtier.validation import DEFAULT_MAX_CONTENT

__all__ = [
    "AllocatorMachine",
    "StoreMachineBase",
    "allocator_machine",
    "run_machine",
    "store_machine",
]

_BLOB_NOTE = re.compile(r"@reproduce_failure\('([^']+)', b'([^']+)'\)")


def event(value: str) -> None:
    """``hypothesis.event``, ignored outside a test (a pasted counterexample program)."""
    if currently_in_test_context():
        _hypothesis_event(value)


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


def supported_create_options(store_class: type[Any]) -> tuple[str, ...]:
    """The options of :func:`strategies.create_options` that ``store_class.create`` takes."""
    taken = Subject.of(store_class).create_options
    return tuple(name for name in KNOWN_CREATE_OPTIONS if name in taken)


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
    """State and helpers of the store machine; :func:`store_machine` adds the rules.

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
        self.dir = tempfile.mkdtemp(prefix="warmtier-machine-", dir=self.workdir or scratch_root())
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
            raise StoreMismatch(
                f"{what}: must return a bool\n  expected: {expected!r}\n  actual:   "
                f"{actual!r}\n  {compare.replay_hint()}"
            )
        if expected != actual:
            raise StoreMismatch(
                f"{what}\n  expected: {expected!r}\n  actual:   {actual!r}\n"
                f"  {compare.replay_hint()}"
            )

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
            raise StoreMismatch(
                f"{what}: bad input must raise InvalidArgumentError\n  expected: "
                f"InvalidArgumentError\n  actual:   {type(exc).__name__}: {exc}\n"
                f"  {compare.replay_hint()}"
            ) from exc
        raise StoreMismatch(
            f"{what}: bad input was accepted\n  expected: InvalidArgumentError\n"
            f"  actual:   no error\n  {compare.replay_hint()}"
        )

    def capacity_error_allowed(self, size: int) -> bool:
        """A configured limit can explain a CapacityError: every allowed slot is live, or
        the content needs arena space under a byte limit (holes may not fit it)."""
        slots = self.options.get("max_slots")
        arena = self.options.get("max_content_bytes")
        return bool((slots and len(self.model) >= slots) or (arena and size > 0))

    def do_put(self, id: str, embedding: Any, content: Any, confidence: float) -> bool:
        """Put into both; False if the store refused it with an allowed CapacityError."""
        value = S.materialize(content)
        size = len(S.expected_content(content))
        before = self.model.get(id)
        self.touched.add(id)
        given = np.array(embedding, copy=True) if isinstance(embedding, np.ndarray) else embedding
        if size > self.max_content:
            with self.rejected(f"put({id!r}, content of {size} bytes > max_content)"):
                self.store.put(id, given, value, confidence)
            return False
        try:
            result = self.store.put(id, given, value, confidence)
        except InvalidArgumentError as exc:
            raise StoreMismatch(
                f"put({id!r}, <{size} bytes>, confidence={confidence!r}) of a valid record was "
                f"refused\n  expected: the put succeeds\n  actual:   InvalidArgumentError: {exc}"
                f"\n  {compare.replay_hint()}"
            ) from exc
        except CapacityError as exc:
            if not self.capacity_error_allowed(size):
                raise StoreMismatch(
                    f"put({id!r}, <{size} bytes>) raised CapacityError although no configured "
                    f"limit ({self.options}) is reached ({len(self.model)} live records)\n"
                    f"  expected: the put succeeds\n  actual:   {exc}\n  {compare.replay_hint()}"
                ) from exc
            event("put: refused with CapacityError (a configured limit)")
            return False
        if isinstance(given, np.ndarray):
            given.fill(7)  # the caller reuses its buffer: the store must have copied it
        if before is not None:
            self.freed_sizes = [*self.freed_sizes[-15:], len(before.content)]
        self.model.put(id, embedding, value, confidence)
        put_now = self.model.get(id)
        assert put_now is not None
        self.since_durable.append(("put", put_now))
        self.history.setdefault(id, []).append(put_now)
        self.expect_same(f"put({id!r}, ...) returns None", None, result)
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
        return True

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
        raise StoreMismatch(
            f"{what}: yielded a record that was never put\n  expected: one of "
            f"{candidates!r}\n  actual:   {rec!r}\n  {compare.replay_hint()}"
        )

    def do_remove(self, id: str) -> None:
        before = self.model.get(id)
        if before is not None:
            self.freed_sizes = [*self.freed_sizes[-15:], len(before.content)]
        self.touched.add(id)
        self.since_durable.append(("remove", id))
        self.expect_same(f"remove({id!r})", self.model.remove(id), self.store.remove(id))

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
                raise StoreMismatch(
                    f"{probe} after close()\n  expected: StoreClosedError\n  actual:   "
                    f"{type(exc).__name__}: {exc}\n  {compare.replay_hint()}"
                ) from exc
            raise StoreMismatch(
                f"{probe} after close()\n  expected: StoreClosedError\n  actual:   no error\n"
                f"  {compare.replay_hint()}"
            )

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
            raise StoreMismatch(
                f"store.path after open()\n  expected: {self.path!r}\n  actual:   {path!r}\n"
                f"  {compare.replay_hint()}"
            )
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
        if self.store is not None:
            with contextlib.suppress(WarmTierError):
                self.store.close()
        self.store = None
        self.handed_out = []
        if issubclass(self.store_class, ModelStore):
            ModelStore.forget(self.path)
        shutil.rmtree(self.dir, ignore_errors=True)


def store_machine(
    store_class: type[Any],
    *,
    dim: int = 4,
    workdir: str | None = None,
    name: str = "StoreMachine",
    max_content_size: int = 512 * 1024,
) -> type[StoreMachineBase]:
    """A state machine class that drives ``store_class`` through the public contract.

    ``dim`` is the embedding length (1 makes every cosine ``-1``, ``0`` or ``1``: ties
    everywhere); ``workdir`` holds the per-example directories (default: the system temp
    dir). Use ``run_machine(cls)`` or ``cls.TestCase`` to run it.
    """
    emb = S.embeddings(dim)
    con = S.contents(max_content_size)
    rel = S.relative_contents()
    conf = S.confidences()
    options = S.create_options(supported_create_options(store_class))

    class Machine(StoreMachineBase):
        keys = Bundle("keys")
        removed = Bundle("removed")

        # -- lifecycle ---------------------------------------------------------------

        @initialize(options=options)
        def create(self, options: dict[str, Any]) -> None:
            """Create the store with ``options``; sizing hints it does not take are dropped
            (a pasted program may name the reference store's)."""
            taken = supported_create_options(self.store_class)
            options = {k: v for k, v in options.items() if k in taken or k not in SIZING_HINTS}
            self.options = dict(options)
            self.max_content = int(options.get("max_content", DEFAULT_MAX_CONTENT))
            self.model = ModelStore(self.dim, max_content=self.max_content)
            self.store = self.store_class.create(self.path, dim=self.dim, **options)
            self.note_durable()

        @rule(via=st.sampled_from(["close", "with", "close twice"]),
              probe=st.sampled_from(["len", "in", "get", "put", "remove", "search"]))
        @counted
        def close_and_reopen(self, via: str, probe: str) -> None:
            old = self.store
            if via == "with":
                with old:
                    pass
            else:
                old.close()
                if via == "close twice":
                    old.close()
            self.store = None
            self.note_durable()
            self.expect_closed(old, probe)
            del old
            self.reopen_store()
            event(f"reopen: after {via}")

        @rule()
        @counted
        def abandon_and_reopen(self) -> None:
            """Drop the object without close(), then open(). The reference store (and its
            subclasses) lose nothing completed; another store may come back as the state
            after its last durability point plus any prefix of the operations since, as
            the contract allows for a crash."""
            self.store = None
            self.handed_out = []
            if self.exact_after_abandon:
                self.reopen_store()
                event("reopen: after abandoning the object")
                return
            self.reopen_store(compare_with_model=False)
            actual = {r.id: r for r in self.store.scan()}
            k = self.recovered_prefix(actual)
            if k is None:
                raise StoreMismatch(
                    "open() after abandoning the object: the records are not the state of "
                    "the last flush/compact/close plus a prefix of the operations since\n"
                    f"  expected one of: {len(self.since_durable) + 1} states from "
                    f"{len(self.durable_state)} durable records\n"
                    f"  actual:   {sorted(actual)}\n  {compare.replay_hint()}"
                )
            event(f"reopen after abandon: {'all' if k == len(self.since_durable) else 'a prefix of'}"
                  " the operations since the last durability point")
            self.model = ModelStore(self.dim, max_content=self.max_content)
            for rec in actual.values():
                self.model.put(rec.id, rec.embedding, rec.content, rec.confidence)
            self.note_durable()

        @rule(what=st.sampled_from(["open", "create"]))
        @counted
        def second_open_or_create_is_refused(self, what: str) -> None:
            """open() of an open store: StoreLockedError; create() over it: InvalidArgumentError.
            Either way the holder is not disturbed (the invariant checks)."""
            if what == "create":
                with self.rejected("create() over an existing store"):
                    self.store_class.create(self.path, dim=self.dim)
                return
            try:
                intruder = self.store_class.open(self.path)
            except StoreLockedError:
                event("refused: second open")
                return
            intruder.close()
            raise StoreMismatch(
                f"open() of a store that is already open\n  expected: StoreLockedError\n"
                f"  actual:   a second open store\n  {compare.replay_hint()}"
            )

        # -- writes ------------------------------------------------------------------

        @rule(target=keys, id=S.ids(), embedding=emb, content=st.one_of(con, rel),
              confidence=conf)
        @counted
        def put_new(self, id: str, embedding: Any, content: Any, confidence: float) -> str:
            if self.model.get(id) is not None:
                event("put: a 'new' id that was live (replace)")
            self.do_put(id, embedding, self.resolve(id, content), confidence)
            return id

        @rule(id=keys, embedding=emb, content=st.one_of(rel, con), confidence=conf)
        @counted
        def put_existing(self, id: str, embedding: Any, content: Any, confidence: float) -> None:
            """Replace: new bytes of the same, a neighbouring or a far size, or anything."""
            self.do_put(id, embedding, self.resolve(id, content), confidence)

        @rule(target=keys, of=keys, pick=st.integers(0, 31), embedding=emb, content=con,
              confidence=conf)
        @counted
        def put_confusable_sibling(self, of: str, pick: int, embedding: Any, content: Any,
                                   confidence: float) -> str:
            """Put an id a careless store merges with a live one (case, normal form,
            trailing blank or NUL, path spelling, truncation): both must stay distinct."""
            siblings = S.confusable_siblings(of)
            id = siblings[pick % len(siblings)]
            self.do_put(id, embedding, self.resolve(id, content), confidence)
            return id

        @rule(target=keys, base=S.confusable_bases(), embedding=emb, confidence=conf)
        @counted
        def put_confusable_family(self, base: str, embedding: Any,
                                  confidence: float) -> MultipleResults[str]:
            """Put an id and every sibling a careless store merges with it, each with its
            own content: all of them must stay distinct."""
            family = [base, *S.confusable_siblings(base)]
            for n, id in enumerate(family):
                self.do_put(id, embedding, f"member {n} of the family of {base!r}", confidence)
            return multiple(*family)

        @rule(target=keys, id=consumes(removed), embedding=emb, content=con, confidence=conf)
        @counted
        def put_removed_again(self, id: str, embedding: Any, content: Any,
                              confidence: float) -> str:
            self.do_put(id, embedding, content, confidence)
            return id

        @rule(target=keys, count=st.integers(1, 40), size=S.content_sizes(70_000),
              seed=st.integers(0, 3), same_embedding=st.booleans())
        @counted
        def grow(self, count: int, size: int, seed: int, same_embedding: bool) -> Any:
            """Many puts in a row: past the initial slot and content capacity."""
            made = []
            for i in range(count):
                rid = f"bulk-{self.bulk_count}"
                self.bulk_count += 1
                vec = [1.0] * self.dim if same_embedding else [float(i + 1)] + [0.5] * (self.dim - 1)
                if not self.do_put(rid, vec, S.Blob(size + i % 7, seed + i), 1.0):
                    break
                made.append(rid)
            self.verify_all = True
            return multiple(*made)

        @rule(ops=S.churn_ops())
        @counted
        def churn(self, ops: list[tuple[str, int, int, int]]) -> None:
            """Puts, replaces, removes and flushes on a few ids, in one step: the mix most
            bugs of replacement, reuse and recycling need, whatever rules the swarm picked."""
            pool = [[1.0] * self.dim, [0.0] * self.dim, [-0.0] * self.dim,
                    [2.0] + [0.0] * (self.dim - 1)]
            for op, which, size, seed in ops:
                rid = S.CHURN_IDS[which]
                if op == "remove":
                    self.do_remove(rid)
                elif op == "flush":
                    self.store.flush()
                    self.note_durable()
                else:
                    self.do_put(rid, pool[seed], S.Blob(min(size, self.max_content), seed),
                                (1.0, 0.5, 0.0, -0.0)[seed])
            self.verify_all = True

        @rule(target=removed, id=consumes(keys))
        @counted
        def remove(self, id: str) -> str:
            self.do_remove(id)
            return id

        @precondition(lambda self: len(self.model) > 1)
        @rule(keep=st.sampled_from(["even", "odd"]))
        @counted
        def remove_every_other(self, keep: str) -> None:
            """Punch holes all over the arena (fragmentation)."""
            order = sorted(self.model.ids())
            for rid in order[1::2] if keep == "even" else order[0::2]:
                self.do_remove(rid)
            self.verify_all = True

        # -- reads (the invariant also reads every record after every step) ----------

        @rule(id=keys)
        @counted
        def read_put_id(self, id: str) -> None:
            self.do_read(id, "an id that was put")

        @rule(id=removed, remove_again=st.booleans())
        @counted
        def read_removed_id(self, id: str, remove_again: bool) -> None:
            self.do_read(id, "a removed id")
            if remove_again:
                self.do_remove(id)

        @rule(id=S.ids(), remove=st.booleans())
        @counted
        def read_fresh_id(self, id: str, remove: bool) -> None:
            self.do_read(id, "a fresh id")
            if remove:
                self.do_remove(id)

        @rule(batch_size=st.sampled_from([1, 2, 3, 7, 1024, None]))
        @counted
        def scan(self, batch_size: int | None) -> None:
            result = self.store.scan() if batch_size is None else self.store.scan(batch_size)
            compare.assert_scan_matches(result, self.records())

        @precondition(lambda self: len(self.model) > 0)
        @rule(batch_size=st.sampled_from([1, 2, 3]), after=st.integers(0, 4),
              what=st.sampled_from(["remove", "replace", "put new"]), pick=st.integers(0, 63))
        @counted
        def scan_while_mutating(self, batch_size: int, after: int, what: str, pick: int) -> None:
            """Weak consistency: a mutation between two records of a scan. Records live
            throughout come exactly once; none twice; each equals a value once put."""
            before = self.records()
            live = sorted(before)
            victim = live[pick % len(live)]
            iterator = iter(self.store.scan(batch_size))
            got = list(itertools.islice(iterator, after))
            if what == "remove":
                self.do_remove(victim)
            elif what == "replace":
                self.do_put(victim, [0.25] * self.dim, S.Blob(pick, 1), 0.5)
            else:
                self.do_put(f"mid-scan-{self.bulk_count}", [0.5] * self.dim, S.Blob(pick), 1.0)
                self.bulk_count += 1
            got.extend(iterator)
            seen: set[str] = set()
            for rec in got:
                rid = getattr(rec, "id", None)
                if not isinstance(rid, str) or rid in seen:
                    raise StoreMismatch(f"scan() with a {what} in the middle yielded {rid!r} "
                                        f"twice or without a str id\n  {compare.replay_hint()}")
                seen.add(rid)
                self.expect_put_once(rec, f"scan() with a {what} of {victim!r} in the middle")
            steady = set(before) - ({victim} if what == "remove" else set())
            if not steady <= seen:
                raise StoreMismatch(
                    f"scan() with a {what} of {victim!r} in the middle missed records live "
                    f"throughout\n  expected: {sorted(steady)}\n  actual:   {sorted(seen)}\n"
                    f"  {compare.replay_hint()}"
                )

        @rule(query=S.queries(dim), k=st.one_of(st.integers(1, 12), st.just(10_000), st.none()))
        @counted
        def search(self, query: Any, k: int | None) -> None:
            records = list(self.records().values())
            result = self.store.search(query) if k is None else self.store.search(query, k)
            compare.assert_search_matches(result, query, 10 if k is None else k, records)
            if k is not None and k >= len(records):
                event("search: k covers every record")
            embs = [r.embedding.tobytes() for r in records]
            if len(set(embs)) < len(embs):
                event("search: duplicate embeddings (ties)")
            if any(not np.any(r.embedding) for r in records):
                event("search: a zero-norm record")

        # -- maintenance -------------------------------------------------------------

        @rule()
        @counted
        def compact(self) -> None:
            result = self.store.compact()
            self.model.compact()
            self.note_durable()
            compare.assert_compaction_consistent(result, self.store.stats(),
                                                 reference=self.reference)
            self.verify_all = True
            event("compact: reclaimed space" if result.bytes_reclaimed else "compact: nothing")

        @rule()
        @counted
        def flush(self) -> None:
            self.verify_all = True
            self.expect_same("flush() returns None", None, self.store.flush())
            self.note_durable()

        # -- bad input: InvalidArgumentError, and nothing changes ---------------------

        @precondition(lambda self: self.max_content < DEFAULT_MAX_CONTENT)
        @rule(id=S.ids(), at_limit=st.booleans())
        @counted
        def content_at_and_over_max(self, id: str, at_limit: bool) -> None:
            if at_limit:
                self.do_put(id, [1.0] * self.dim, S.Blob(self.max_content), 1.0)
                event("put: content of exactly max_content")
                return
            too_big = S.Blob(self.max_content + 1).materialize()
            with self.rejected(f"put({id!r}, content of max_content + 1 bytes)"):
                self.store.put(id, [1.0] * self.dim, too_big)

        @rule(pick=st.integers(0, 63), bad=st.one_of(
            st.tuples(st.sampled_from(["put", "get", "remove", "in"]), S.bad_ids()),
            S.bad_embeddings(dim).map(lambda v: ("put embedding", v)),
            S.bad_contents().map(lambda v: ("put content", v)),
            st.sampled_from(S.BAD_CONFIDENCES).map(lambda v: ("put confidence", v)),
            S.bad_queries(dim).map(lambda v: ("search query", v)),
            st.sampled_from(S.BAD_KS).map(lambda v: ("search k", v)),
            st.sampled_from(S.BAD_BATCH_SIZES).map(lambda v: ("scan batch_size", v)),
        ))
        @counted
        def bad_input_is_refused(self, pick: int, bad: tuple[str, Any]) -> None:
            """Every contract rule: InvalidArgumentError, and nothing changes (the invariant
            compares everything with the untouched model). A bad put field goes with a live
            id (the ``pick``-th in order, when there is one), whose record must survive."""
            what, value = bad
            live = sorted(self.model.ids())
            id = live[pick % len(live)] if live else "fresh"
            self.touched.add(id)
            one = [1.0] * self.dim
            if what == "in":
                try:
                    answer = value in self.store
                except (InvalidArgumentError, TypeError):
                    return  # an error is fine for `in`; so is False
                self.expect_same(f"{value!r} in store (bad id)", False, answer)
                return
            calls: dict[str, Callable[[], Any]] = {
                "put": lambda: self.store.put(value, one, b"x"),
                "get": lambda: self.store.get(value),
                "remove": lambda: self.store.remove(value),
                "put embedding": lambda: self.store.put(id, value, b"new", 0.5),
                "put content": lambda: self.store.put(id, one, value, 0.5),
                "put confidence": lambda: self.store.put(id, one, b"new", value),
                "search query": lambda: self.store.search(value, 3),
                "search k": lambda: self.store.search(one, value),
                "scan batch_size": lambda: list(self.store.scan(value)),
            }
            with self.rejected(f"{what} = {value!r}"):
                calls[what]()

    spec = f"{store_class.__module__}:{store_class.__qualname__}"
    Machine.__name__ = name
    Machine.__qualname__ = name
    Machine.store_class = store_class
    Machine.dim = dim
    Machine.workdir = workdir
    _key_digest(Machine, f"{spec} dim={dim} max_content_size={max_content_size}")
    return Machine


def _key_digest(machine: type[RuleBasedStateMachine], key: str) -> None:
    """Give each binding its own example-database key (Hypothesis hashes the factory's
    source and signature; every binding shares the source)."""
    machine.__signature__ = inspect.Signature(
        [inspect.Parameter("binding", inspect.Parameter.KEYWORD_ONLY, default=key)]
    )


# -- the offset allocator ---------------------------------------------------------------


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
    def free(self, tag: int) -> None:
        offset, n = self.live.pop(tag)
        self.alloc.free(offset, n)
        self.owner[offset:offset + n] = [-1] * n
        left = offset > 0 and self.owner[offset - 1] == -1
        right = offset + n < len(self.owner) and self.owner[offset + n] == -1
        event(f"allocator: free merges {'both sides' if left and right else 'one side' if left or right else 'nothing'}")

    @rule(offset=st.integers(0, 300), n=st.integers(1, 40))
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
    def grow(self, extra: int) -> None:
        self.alloc.grow(len(self.owner) + extra)
        self.owner.extend([-1] * extra)
        self.grows += 1

    @rule()
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


# -- running ----------------------------------------------------------------------------


def run_machine(
    machine: type[RuleBasedStateMachine],
    *,
    replay: ReplayContext | None = None,
    reproduce: tuple[str, str] | None = None,
    settings: settings | None = None,
) -> None:
    """Run ``machine`` as a test; on failure add one line, ``Replay: <nox command>``.

    ``replay`` names the test (node id, profile, store, seed); its seed, when set, seeds
    the search (the example database still replays first). ``reproduce`` is a
    ``(version, blob)`` pair from ``@reproduce_failure``: run exactly that example.
    """
    factory: Any = machine
    if reproduce is not None:
        version, blob = reproduce
        factory = hypothesis.reproduce_failure(version, blob.encode("ascii"))(factory)
    elif replay is not None and replay.seed is not None:
        factory = hypothesis.seed(replay.seed)(factory)
    compare.set_replay(replay)
    try:
        run_state_machine_as_test(factory, settings=settings)
    except BaseException as exc:
        if replay is not None:
            notes = "\n".join(getattr(exc, "__notes__", []))
            found = _BLOB_NOTE.findall(notes + "\n" + str(exc))
            if found:
                version, blob = found[-1]
                line = replay.blob_command(version, blob)
            elif reproduce is not None:
                line = replay.blob_command(*reproduce)
            else:
                line = replay.seed_command()
            exc.add_note(f"Replay: {line}")
        raise
    finally:
        compare.set_replay(None)
