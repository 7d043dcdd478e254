"""Targeted properties: bit-exact round trips, fragmentation that compaction removes, and
search equal to brute force. Each draws a whole scenario and checks one claim."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import pytest
from hypothesis import event, given, target
from hypothesis import strategies as st

from warmtier.model import ModelStore
from warmtier.records import Record
from warmtier.testing import compare
from warmtier.testing.properties import strategies as S
from warmtier.testing.subject import Subject, owned_scratch

DIM = 4


@contextmanager
def fresh_store(store_class: type[Any], **options: Any) -> Iterator[tuple[Any, str]]:
    """A new store in a new directory, closed and deleted afterwards."""
    base = owned_scratch("warmtier-targeted-")
    path = os.path.join(base, "store")
    store = store_class.create(path, dim=DIM, **options)
    try:
        yield store, path
    finally:
        with suppress(Exception):
            store.close()
        if issubclass(store_class, ModelStore):
            ModelStore.forget(path)
        shutil.rmtree(base, ignore_errors=True)


records_strategy = st.lists(
    st.tuples(S.ids(), S.embeddings(DIM), S.contents(), S.confidences()),
    min_size=1, max_size=12, unique_by=lambda r: r[0],
)


@given(records=records_strategy)
def test_every_record_round_trips_bit_exact_before_and_after_reopen(
    store_class: type[Any], records: list[tuple[str, Any, Any, float]]
) -> None:
    model = ModelStore(DIM)
    with fresh_store(store_class) as (store, path):
        for rid, emb, content, conf in records:
            store.put(rid, emb, S.materialize(content), conf)
            model.put(rid, emb, S.materialize(content), conf)
        for rid in model.ids():
            compare.assert_record_matches(store.get(rid), model.get(rid), what=f"get({rid!r})")
        store.close()
        reopened = store_class.open(path)
        try:
            for rid in model.ids():
                compare.assert_record_matches(reopened.get(rid), model.get(rid),
                                              what=f"get({rid!r}) after reopen")
        finally:
            reopened.close()


@pytest.mark.reference_only
@given(count=st.integers(4, 40).map(lambda n: n * 2), size=st.integers(64, 4096),
       seed=st.integers(0, 3), sync=st.booleans())
def test_removing_every_other_record_fragments_and_compaction_defragments(
    store_class: type[Any], count: int, size: int, seed: int, sync: bool
) -> None:
    with fresh_store(store_class) as (store, _):
        ids = [f"r{i:03d}" for i in range(count)]
        for i, rid in enumerate(ids):
            store.put(rid, [1.0] * DIM, S.Blob(size, seed + i).materialize())
        for rid in ids[0::2]:  # keep the last record, so the span stays the same
            assert store.remove(rid)
        if sync:
            store.flush()
        frag = store.stats().fragmentation
        target(frag, label="fragmentation after removing half")
        assert frag > 0.4, (
            f"fragmentation after removing every other of {count} records of {size} bytes\n"
            f"  expected: > 0.4\n  actual:   {frag}\n  stats: {store.stats()}"
        )
        store.compact()
        after = store.stats()
        assert after.fragmentation < 0.01, (
            f"fragmentation after compact()\n  expected: < 0.01\n  actual:   "
            f"{after.fragmentation}\n  stats: {after}"
        )
        assert after.content_live_bytes == size * (count // 2)


@given(count=st.integers(1, 30), size=S.content_sizes(70_000), removed_share=st.floats(0, 1))
def test_compaction_leaves_almost_no_fragmentation(
    subject: Subject, count: int, size: int, removed_share: float
) -> None:
    """Any store: compaction keeps the contract's result fields; the reference store, by
    its own measure, also leaves almost nothing unused."""
    with fresh_store(subject.cls) as (store, _):
        for i in range(count):
            store.put(f"r{i}", [1.0] * DIM, S.Blob(size + i, i).materialize())
        for i in range(int(count * removed_share)):
            store.remove(f"r{i * 7 % count}")
        result = store.compact()
        stats = store.stats()
        compare.assert_compaction_consistent(result, stats, reference=subject.is_reference)
        if not subject.is_reference:
            return  # fragmentation is measured by each store's own definition
        assert stats.fragmentation <= 0.05, (
            f"fragmentation after compact()\n  expected: <= 0.05\n  actual:   "
            f"{stats.fragmentation}\n  stats: {stats}"
        )


@given(
    records=st.lists(st.tuples(S.ids(), S.embeddings(DIM)), max_size=25,
                     unique_by=lambda r: r[0]),
    queries=st.lists(S.queries(DIM), min_size=1, max_size=4),
    k=st.one_of(st.integers(1, 30), st.none()),
)
def test_search_equals_brute_force_with_ties_and_zero_norms(
    store_class: type[Any], records: list[tuple[str, Any]], queries: list[Any], k: int | None
) -> None:
    with fresh_store(store_class) as (store, _):
        expected: list[Record] = []
        for rid, emb in records:
            store.put(rid, emb, b"")
            expected.append(Record(rid, S.to_float32(emb), b"", 1.0))
        embs = [r.embedding.tobytes() for r in expected]
        if len(set(embs)) < len(embs):
            event("duplicate embeddings (ties)")
        for q in queries:
            got = store.search(q) if k is None else store.search(q, k)
            compare.assert_search_matches(got, q, 10 if k is None else k, expected)
