"""The store machine's rules, and its binding to a store class: ``store_machine(MyStore,
dim=4)`` is a subclass of :class:`StoreMachine` that drives ``MyStore``.

Rules are thin methods (draw, call the store, call the model, compare); the state and the
comparisons they share are in :mod:`warmtier.testing.properties.machine_base`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    MultipleResults,
    consumes,
    initialize,
    multiple,
    precondition,
    rule,
)

from warmtier.errors import InvalidArgumentError, StoreLockedError
from warmtier.model import ModelStore
from warmtier.testing import compare
from warmtier.testing.compare import mismatch
from warmtier.testing.properties import strategies as S
from warmtier.testing.properties.batch_rules import BatchRules
from warmtier.testing.properties.machine_base import counted, event
from warmtier.testing.subject import KNOWN_CREATE_OPTIONS, SIZING_HINTS, Subject
from warmtier.validation import DEFAULT_MAX_CONTENT

__all__ = ["StoreMachine", "store_machine", "supported_create_options"]


def supported_create_options(store_class: type[Any]) -> tuple[str, ...]:
    """The options of :func:`strategies.create_options` that ``store_class.create`` takes."""
    taken = Subject.of(store_class).create_options
    return tuple(name for name in KNOWN_CREATE_OPTIONS if name in taken)


def bound(attribute: str) -> st.SearchStrategy[Any]:
    """The strategy held in ``attribute`` by the running machine's class (its binding).

    Rules take their strategies when :class:`StoreMachine` is defined, before any binding
    names a dimension or a store; this one looks the binding's strategy up at draw time
    (``st.runner()`` is the running machine, and draws nothing).

    Bind a whole argument: ``st.one_of`` over a bound strategy sees one branch, not the
    bound ``one_of``'s branches, so it would weigh the alternatives differently.
    """
    return st.runner().flatmap(lambda machine: getattr(machine, attribute))


EMBEDDINGS = bound("embeddings")
CONTENTS = bound("contents")
NEW_CONTENTS = bound("new_contents")
REPLACEMENT_CONTENTS = bound("replacement_contents")
QUERIES = bound("queries")
CREATE_OPTIONS = bound("create_options")
BAD_INPUTS = bound("bad_inputs")
CONFIDENCES = S.confidences()


def bad_inputs(dim: int) -> st.SearchStrategy[tuple[str, Any]]:
    """``(what, value)``: one argument of one call that the contract says to refuse."""
    return st.one_of(
        st.tuples(st.sampled_from(["put", "get", "remove", "in"]), S.bad_ids()),
        S.bad_embeddings(dim).map(lambda v: ("put embedding", v)),
        S.bad_contents().map(lambda v: ("put content", v)),
        st.sampled_from(S.BAD_CONFIDENCES).map(lambda v: ("put confidence", v)),
        S.bad_queries(dim).map(lambda v: ("search query", v)),
        st.sampled_from(S.BAD_KS).map(lambda v: ("search k", v)),
        st.sampled_from(S.BAD_BATCH_SIZES).map(lambda v: ("scan batch_size", v)),
    )


class StoreMachine(BatchRules):
    """The store machine's rules. Not runnable by itself: :func:`store_machine` makes the
    subclass that names the store class and the dimension, and holds the strategies that
    depend on them (``embeddings``, ``contents``, ``new_contents``,
    ``replacement_contents``, ``queries``, ``create_options``, ``bad_inputs``)."""

    keys = Bundle("keys")
    removed = Bundle("removed")

    max_content_size: ClassVar[int] = 512 * 1024
    #: What the binding is: store class, dim and content sizes (its example-database key).
    binding: ClassVar[str]
    embeddings: ClassVar[st.SearchStrategy[Any]]
    contents: ClassVar[st.SearchStrategy[Any]]
    #: Contents of a put: absolute sizes first, or sized relative to the id's record.
    new_contents: ClassVar[st.SearchStrategy[Any]]
    #: Contents of a replace: relative sizes first (shrinking tries them first).
    replacement_contents: ClassVar[st.SearchStrategy[Any]]
    queries: ClassVar[st.SearchStrategy[Any]]
    create_options: ClassVar[st.SearchStrategy[dict[str, Any]]]
    bad_inputs: ClassVar[st.SearchStrategy[tuple[str, Any]]]

    def __init__(self) -> None:
        if not hasattr(type(self), "binding"):
            raise TypeError(f"{type(self).__name__} drives no store yet: bind it with "
                            "store_machine(MyStore, dim=...) and run that class")
        super().__init__()

    # -- lifecycle ---------------------------------------------------------------------

    @initialize(options=CREATE_OPTIONS)
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
            raise mismatch(
                "open() after abandoning the object: the records are not the state of "
                "the last flush/compact/close plus a prefix of the operations since",
                f"one of {len(self.since_durable) + 1} states from "
                f"{len(self.durable_state)} durable records", str(sorted(actual)))
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
        raise mismatch("open() of a store that is already open", "StoreLockedError",
                       "a second open store")

    # -- writes ------------------------------------------------------------------

    @rule(target=keys, id=S.ids(), embedding=EMBEDDINGS, content=NEW_CONTENTS,
          confidence=CONFIDENCES)
    @counted
    def put_new(self, id: str, embedding: Any, content: Any, confidence: float) -> str:
        if self.model.get(id) is not None:
            event("put: a 'new' id that was live (replace)")
        self.do_put(id, embedding, self.resolve(id, content), confidence)
        return id

    @rule(id=keys, embedding=EMBEDDINGS, content=REPLACEMENT_CONTENTS,
          confidence=CONFIDENCES)
    @counted
    def put_existing(self, id: str, embedding: Any, content: Any, confidence: float) -> None:
        """Replace: new bytes of the same, a neighbouring or a far size, or anything."""
        self.do_put(id, embedding, self.resolve(id, content), confidence)

    @rule(target=keys, of=keys, pick=st.integers(0, 31), embedding=EMBEDDINGS,
          content=CONTENTS, confidence=CONFIDENCES)
    @counted
    def put_confusable_sibling(self, of: str, pick: int, embedding: Any, content: Any,
                               confidence: float) -> str:
        """Put an id a careless store merges with a live one (case, normal form,
        trailing blank or NUL, path spelling, truncation): both must stay distinct."""
        siblings = S.confusable_siblings(of)
        id = siblings[pick % len(siblings)]
        self.do_put(id, embedding, self.resolve(id, content), confidence)
        return id

    @rule(target=keys, base=S.confusable_bases(), embedding=EMBEDDINGS, confidence=CONFIDENCES)
    @counted
    def put_confusable_family(self, base: str, embedding: Any,
                              confidence: float) -> MultipleResults[str]:
        """Put an id and every sibling a careless store merges with it, each with its
        own content: all of them must stay distinct."""
        family = [base, *S.confusable_siblings(base)]
        for n, id in enumerate(family):
            self.do_put(id, embedding, f"member {n} of the family of {base!r}", confidence)
        return multiple(*family)

    @rule(target=keys, id=consumes(removed), embedding=EMBEDDINGS, content=CONTENTS,
          confidence=CONFIDENCES)
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
                raise mismatch(f"scan() with a {what} in the middle",
                               "every record once, each with a str id",
                               f"{rid!r} twice or without a str id")
            seen.add(rid)
            self.expect_put_once(rec, f"scan() with a {what} of {victim!r} in the middle")
        steady = set(before) - ({victim} if what == "remove" else set())
        if not steady <= seen:
            raise mismatch(
                f"scan() with a {what} of {victim!r} in the middle missed records live "
                "throughout", repr(sorted(steady)), repr(sorted(seen)))

    @rule(query=QUERIES, k=st.one_of(st.integers(1, 12), st.just(10_000), st.none()))
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

    @rule(pick=st.integers(0, 63), bad=BAD_INPUTS)
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


def store_machine(
    store_class: type[Any],
    *,
    dim: int = 4,
    workdir: str | None = None,
    name: str = "StoreMachine",
    max_content_size: int = 512 * 1024,
) -> type[StoreMachine]:
    """A state machine class that drives ``store_class`` through the public contract.

    ``dim`` is the embedding length (1 makes every cosine ``-1``, ``0`` or ``1``: ties
    everywhere); ``workdir`` holds the per-example directories (default: the system temp
    dir); ``name`` is the class name a failing run's program starts with (``state =
    StoreMachine()``). Use ``run_machine(cls)`` or ``cls.TestCase`` to run it.

    Each binding has its own example-database key: Hypothesis keys a machine by its
    source (or name) and its ``_hypothesis_internal_add_digest``, here the binding.
    """
    spec = f"{store_class.__module__}:{store_class.__qualname__}"
    binding = f"{spec} dim={dim} max_content_size={max_content_size}"
    contents, relative = S.contents(max_content_size), S.relative_contents()
    attributes: dict[str, Any] = {
        "__module__": __name__,
        "__qualname__": name,
        "__doc__": f"{StoreMachine.__name__} bound to {binding}.",
        "store_class": store_class,
        "dim": dim,
        "workdir": workdir,
        "max_content_size": max_content_size,
        "binding": binding,
        "_hypothesis_internal_add_digest": binding.encode(),
        "embeddings": S.embeddings(dim),
        "contents": contents,
        "new_contents": st.one_of(contents, relative),
        "replacement_contents": st.one_of(relative, contents),
        "queries": S.queries(dim),
        "create_options": S.create_options(supported_create_options(store_class)),
        "bad_inputs": bad_inputs(dim),
    }
    machine: type[StoreMachine] = type(name, (StoreMachine,), attributes)
    return machine
