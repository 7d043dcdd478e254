"""The store machine's rules for the batch calls (``put_many``, ``get_many``,
``remove_many``, ``search_many``), drawn only for a store that has them.

A batch means what the loop of single calls means (docs/contract-extensions.md): the
model runs the loop, and the store's one answer is compared with the loop's answers.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, MultipleResults, multiple, precondition, rule

from warmtier.errors import CapacityError
from warmtier.records import Record
from warmtier.testing import compare
from warmtier.testing.compare import mismatch
from warmtier.testing.properties import strategies as S
from warmtier.testing.properties.machine_base import StoreMachineBase, counted, event

__all__ = ["BatchRules"]

#: A batch's id: a fresh one, or the ``n``-th live id (an int) at the time of the call.
IDS = st.one_of(S.ids(), st.integers(0, 63))
#: Bad-input kinds with no batch call to carry them.
_NO_BATCH_FORM = ("in", "scan batch_size")
#: How a put_many row is spelled: the shapes docs/contract-extensions.md allows.
SHAPES = ("tuple", "tuple without confidence", "list", "Record")


def _has(call: str) -> Any:
    return lambda self: call in self.batch_calls


def _bound(attribute: str) -> st.SearchStrategy[Any]:
    return st.runner().flatmap(lambda machine: getattr(machine, attribute))


class BatchRules(StoreMachineBase):
    """Rules that call the batch extensions; mixed into the store machine."""

    keys = Bundle("keys")

    def batch_id(self, drawn: str | int) -> str:
        """A drawn batch id: a str as it is, an int as the n-th live id (or a fresh one)."""
        if isinstance(drawn, str):
            return drawn
        live = sorted(self.model.ids())
        return live[drawn % len(live)] if live else f"batch-fresh-{drawn}"

    def batch_row(self, shape: str, id: str, embedding: Any, content: Any,
                  confidence: float) -> Any:
        """One put_many record in ``shape``."""
        if shape == "Record":
            return Record(id, S.to_float32(embedding), S.expected_content(content), confidence)
        row = (id, embedding, S.materialize(content), confidence)
        if shape == "tuple without confidence":
            return row[:3]
        return list(row) if shape == "list" else row

    @precondition(_has("put_many"))
    @rule(target=keys, drawn=st.lists(st.tuples(IDS, _bound("embeddings"), _bound("contents"),
                                                 S.confidences()), max_size=6),
          shape=st.sampled_from(SHAPES))
    @counted
    def put_many(self, drawn: list[tuple[Any, Any, Any, float]],
                 shape: str) -> MultipleResults[str]:
        """A batch of puts, duplicates and replacements included: the loop's result, or
        with a content over max_content anywhere, InvalidArgumentError and no change."""
        rows = [(self.batch_id(i), e, c, 1.0 if shape == "tuple without confidence" else f)
                for i, e, c, f in drawn]
        batch = [self.batch_row(shape, *row) for row in rows]
        self.touched.update(row[0] for row in rows)
        sizes = [len(S.expected_content(row[2])) for row in rows]
        if any(size > self.max_content for size in sizes):
            with self.rejected(f"put_many({len(rows)} records, one over max_content)"):
                self.store.put_many(batch)
            return multiple()
        try:
            result = self.store.put_many(batch)
        except CapacityError as exc:
            return multiple(*self.batch_prefix(rows, sizes, exc))
        self.rows_into_model(rows)
        self.expect_same(f"put_many of {len(rows)} records returns None", None, result)
        event(f"put_many: {min(len(rows), 3)}{'+' if len(rows) > 3 else ''} records, "
              f"{shape}")
        if len({row[0] for row in rows}) < len(rows):
            event("put_many: a duplicate id in the batch")
        return multiple(*(row[0] for row in rows))

    def batch_prefix(self, rows: list[tuple[str, Any, Any, float]], sizes: list[int],
                     exc: CapacityError) -> list[str]:
        """After a put_many that raised CapacityError: the prefix of ``rows`` the store
        applied (the model applies it too), which a configured limit must explain."""
        applied = self.applied_prefix(rows)
        rest = sizes[applied:] if applied is not None else []
        slots = self.options.get("max_slots")
        if not rest or not (any(self.capacity_error_allowed(size) for size in rest) or (
                slots and len(self.model) + len(rest) >= slots)):
            raise mismatch(
                f"put_many of {len(rows)} records raised CapacityError, having applied "
                f"{'no prefix of the batch' if applied is None else f'{applied} records'}",
                "a prefix, stopped at a record a configured limit "
                f"({self.options}) refuses", str(exc)) from exc
        event("put_many: stopped by CapacityError (a configured limit)")
        return [row[0] for row in rows[:applied]]

    def applied_prefix(self, rows: list[tuple[str, Any, Any, float]]) -> int | None:
        """The longest k short of the whole batch (the batch raised) such that the store
        holds, for the batch's ids, the model's records after the first k rows (those
        rows go into the model); the whole batch if only that matches; None if none."""
        ids = list(dict.fromkeys(row[0] for row in rows))
        actual = {id: self.store.get(id) for id in ids}
        state: dict[str, Record | None] = {id: self.model.get(id) for id in ids}
        matches = []
        for k in range(len(rows) + 1):
            if k:
                id, embedding, content, confidence = rows[k - 1]
                state[id] = Record(id, S.to_float32(embedding), S.expected_content(content),
                                   confidence)
            if all(state[id] == actual[id] for id in ids):  # Record first: any record type
                matches.append(k)
        short = [k for k in matches if k < len(rows)]
        found = short[-1] if short else (matches[-1] if matches else None)
        self.rows_into_model(rows[: found or 0])
        return found

    def rows_into_model(self, rows: list[tuple[str, Any, Any, float]]) -> None:
        """The model's puts of batch rows, in order (as a loop of ``put`` does them)."""
        for id, embedding, content, confidence in rows:
            self.put_into_model(id, embedding, S.materialize(content), confidence,
                                self.model.get(id))

    @precondition(_has("get_many"))
    @rule(drawn=st.lists(IDS, max_size=6))
    @counted
    def get_many(self, drawn: list[str | int]) -> None:
        ids = [self.batch_id(i) for i in drawn]
        self.touched.update(ids)
        got = self.store.get_many(ids)
        self.expect_same(f"len(get_many of {len(ids)} ids)", len(ids), len(got))
        for id, actual in zip(ids, got, strict=True):
            compare.assert_record_matches(actual, self.model.get(id),
                                          what=f"get_many({ids!r}): the record of {id!r}")

    @precondition(_has("remove_many"))
    @rule(drawn=st.lists(IDS, max_size=6))
    @counted
    def remove_many(self, drawn: list[str | int]) -> None:
        """Duplicates included: the second removal of an id in a batch returns False."""
        ids = [self.batch_id(i) for i in drawn]
        self.touched.update(ids)
        expected = [self.remove_from_model(id) for id in ids]
        self.expect_same(f"remove_many({ids!r})", expected, self.store.remove_many(ids))

    @precondition(_has("search_many"))
    @rule(queries=st.lists(_bound("queries"), max_size=4),
          k=st.one_of(st.integers(1, 12), st.none()))
    @counted
    def search_many(self, queries: list[Any], k: int | None) -> None:
        records = list(self.records().values())
        got = (self.store.search_many(queries) if k is None
               else self.store.search_many(queries, k))
        self.expect_same(f"len(search_many of {len(queries)} queries)", len(queries), len(got))
        for j, (query, answer) in enumerate(zip(queries, got, strict=True)):
            try:
                compare.assert_search_matches(answer, query, 10 if k is None else k, records)
            except compare.StoreMismatch as exc:
                raise mismatch(f"search_many: the answer to query {j}", "search's answer",
                               str(exc)) from exc

    @precondition(lambda self: self.batch_calls)
    @rule(bad=_bound("bad_inputs").filter(lambda bad: bad[0] not in _NO_BATCH_FORM),
          at=st.integers(0, 3), pick=st.integers(0, 63))
    @counted
    def bad_batch_is_refused(self, bad: tuple[str, Any], at: int, pick: int) -> None:
        """One bad item among good ones: InvalidArgumentError, and nothing changes, not
        even the good items before it (the invariant compares with the model)."""
        what, value = bad
        one = np.ones(self.dim, np.float32)
        good = [(self.batch_id(pick + j), one, b"good", 0.5) for j in range(3)]
        self.touched.update(row[0] for row in good)
        bad_row = {
            "put": (value, one, b"x", 1.0), "put embedding": ("bad-emb", value, b"x", 1.0),
            "put content": ("bad-content", one, value, 1.0),
            "put confidence": ("bad-conf", one, b"x", value),
        }.get(what)
        ids = [row[0] for row in good]
        calls = {
            "put_many": lambda: self.store.put_many([*good[:at], bad_row, *good[at:]]),
            "get_many": lambda: self.store.get_many([*ids[:at], value, *ids[at:]]),
            "remove_many": lambda: self.store.remove_many([*ids[:at], value, *ids[at:]]),
            "search_many": lambda: (self.store.search_many([one, value], 3)
                                    if what == "search query" else
                                    self.store.search_many([one], value)),
        }
        call = ("put_many" if bad_row is not None else
                "search_many" if what.startswith("search") else
                "get_many" if what == "get" else "remove_many" if what == "remove" else None)
        if call is None or call not in self.batch_calls:
            return
        with self.rejected(f"{call}(a batch with {what} = {value!r} at position {at})"):
            calls[call]()
