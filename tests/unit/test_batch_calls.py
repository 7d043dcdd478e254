"""The batch calls (docs/contract-extensions.md) mean what a loop of the single-record
calls means: each test runs both on the same inputs and compares. Runs against any store
that declares them (``batch_calls``); the failpoint test is the reference store's."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from warmtier import CapacityError, InvalidArgumentError, Record, WarmTierStore, failpoints
from warmtier.testing.subject import BATCH_CALLS, Subject

DIM = 8
Factory = Callable[..., Any]


@pytest.fixture
def make(make_store: Factory, subject: Subject) -> Factory:
    """``make_store`` for a store that declares every batch call (else the test skips)."""
    missing = [c for c in BATCH_CALLS if c not in subject.batch_calls]
    if missing:
        pytest.skip(f"the store declares no {', '.join(missing)} (batch_calls)")
    return lambda **options: make_store(dim=DIM, **options)


def _check(s: Any) -> None:
    if hasattr(s, "check"):
        s.check()


def _rows(n: int, seed: int = 0) -> list[tuple[Any, ...]]:
    rng = np.random.default_rng(seed)
    rows: list[tuple[Any, ...]] = []
    for i in range(n):
        emb = rng.standard_normal(DIM).astype(np.float32)
        content = bytes(rng.integers(0, 256, int(rng.integers(0, 40)), dtype=np.uint8))
        rows.append((f"id-{i % (n - 3)}", emb, content, float(rng.random())))  # duplicates
    rows.append(("plain", [1, 2, 3, 4, 5, 6, 7, 8], "text content"))  # list, str, no conf
    rows.append(Record("as-record", np.ones(DIM, np.float32), b"rec", 0.25))
    return rows


def _state(s: Any) -> dict[str, Record | None]:
    return {id: s.get(id) for id in sorted(s.ids())}


def _put_one(s: Any, row: Any) -> None:
    if isinstance(row, Record):
        s.put(row.id, row.embedding, row.content, row.confidence)
    else:
        s.put(*row)


def test_put_many_equals_a_loop_of_put(make: Factory) -> None:
    batch, loop = make(initial_capacity=4), make(initial_capacity=4)  # the batch grows
    rows = _rows(50)
    batch.put_many(rows)
    for row in rows:
        _put_one(loop, row)
    assert _state(batch) == _state(loop)
    _check(batch)


def test_an_embedding_scores_the_same_whether_put_alone_or_in_a_batch(make: Factory) -> None:
    """Equal embeddings must tie exactly (ties go by id), so a score may not depend on the
    call that stored the record: a store that takes a batch's norms another way (a
    pairwise sum, float32) scores a batch's copy a bit apart from a put's."""
    rng = np.random.default_rng(5)
    store = make()
    embeddings = [(rng.standard_normal(DIM) * 10.0 ** rng.uniform(-4, 4, DIM)).astype(np.float32)
                  for _ in range(64)]
    for j, emb in enumerate(embeddings):
        store.put(f"a{j:02d}", emb, b"")
    store.put_many([(f"b{j:02d}", emb, b"") for j, emb in enumerate(embeddings)])
    for emb in embeddings[:16]:
        scores = dict(store.search(emb, k=128))
        apart = [(j, scores[f"a{j:02d}"], scores[f"b{j:02d}"]) for j in range(64)
                 if scores[f"a{j:02d}"] != scores[f"b{j:02d}"]]
        assert not apart, ("the same embedding put alone (a) and in a batch (b) scored "
                           f"apart: (j, a, b) = {apart[:3]}")


@pytest.mark.reference_only
@pytest.mark.parametrize("limits", [
    {"max_slots": 40},  # 22 free slots for 30 records: record by record, then full
    {"max_content_bytes": 4096},  # no extent holds the batch's 2,400 bytes: record by
    # record, the 90-byte holes and the 856-byte tail take 28 of the 30
])
def test_put_many_at_the_store_limits_does_what_a_loop_of_put_does(
        tmp_path: Path, limits: dict[str, int]) -> None:
    rng = np.random.default_rng(3)
    first = [(f"f{i}", rng.standard_normal(DIM).astype(np.float32), bytes(90)) for i in range(36)]
    later = [(f"n{i}", rng.standard_normal(DIM).astype(np.float32), bytes(80)) for i in range(30)]
    outcomes = []
    for name, how in (("batch", "put_many"), ("loop", "put")):
        store = WarmTierStore.create(tmp_path / name, dim=DIM, initial_capacity=8,
                                     initial_content_bytes=4096, **limits)
        store.put_many(first)
        store.remove_many([row[0] for row in first[::2]])
        store.flush()  # the removed slots and extents are free: holes of 90 bytes
        try:
            if how == "put_many":
                store.put_many(later)
            else:
                for row in later:
                    store.put(*row)
            error = None
        except CapacityError as exc:
            error = type(exc)
        store.check()
        outcomes.append((error, _state(store)))
        store.close()
    assert outcomes[0] == outcomes[1], f"put_many under {limits} differs from a loop of put"


@pytest.mark.reference_only
def test_a_put_many_survives_reopen(tmp_path: Path) -> None:
    rows = _rows(50)
    with WarmTierStore.create(tmp_path / "batch", dim=DIM, initial_capacity=4) as batch:
        batch.put_many(rows)
        written = _state(batch)
    with WarmTierStore.open(tmp_path / "batch") as again:
        assert _state(again) == written
        again.check()


def test_put_many_with_an_invalid_record_changes_nothing(make: Factory) -> None:
    s = make()
    s.put("kept", np.ones(DIM, np.float32), b"x")
    before = _state(s)
    bad_rows: list[list[Any]] = [
        [("a", np.ones(DIM, np.float32), b"a"), ("b", [np.nan] * DIM, b"b")],
        [("a", np.ones(DIM, np.float32), b"a"), ("", np.ones(DIM, np.float32), b"b")],
        [("a", np.ones(DIM, np.float32), b"a", 2.0)],
        [("a", np.ones(DIM, np.float32))],
        [object()],
    ]
    for rows in bad_rows:
        with pytest.raises(InvalidArgumentError, match=r"records\[\d\]"):
            s.put_many(rows)
        assert _state(s) == before, f"put_many({rows!r}) changed the store"
    _check(s)


@pytest.mark.reference_only
@pytest.mark.parametrize(("point", "applied"), [
    ("put.after_alloc", 0), ("put.after_content", 0),  # a phase over every record: none
    ("put.before_publish", 5), ("put.after_publish", 6),  # the publishes go in order
])
def test_put_many_interrupted_leaves_a_prefix_applied(tmp_path: Path, point: str,
                                                      applied: int) -> None:
    rows = _rows(12)
    with WarmTierStore.create(tmp_path / "s", dim=DIM) as s:
        with failpoints.armed(point, failpoints.Raise(), skip=5, times=1), \
                pytest.raises(failpoints.InjectedFault):
            s.put_many(rows)
        s.check()
        with WarmTierStore.create(tmp_path / "prefix", dim=DIM) as expected:
            for row in rows[:applied]:
                _put_one(expected, row)
            assert _state(s) == _state(expected), f"a fault at the 6th {point} should leave " \
                f"the first {applied} records"
        s.put_many(rows)  # and the store still works
        s.check()


def test_get_many_equals_a_loop_of_get(make: Factory) -> None:
    s = make()
    s.put_many(_rows(20))
    ids = [*s.ids(), "missing", "id-3", "id-3"]
    assert s.get_many(ids) == [s.get(id) for id in ids]
    assert s.get_many([]) == []
    with pytest.raises(InvalidArgumentError, match=r"ids\[1\]"):
        s.get_many(["id-1", 7])  # type: ignore[list-item]


def test_remove_many_equals_a_loop_of_remove(make: Factory) -> None:
    batch, loop = make(), make()
    rows = _rows(30)
    batch.put_many(rows)
    loop.put_many(rows)
    ids = ["id-1", "id-1", "missing", "id-7", "plain"]
    assert batch.remove_many(ids) == [loop.remove(id) for id in ids]
    assert _state(batch) == _state(loop)
    before = _state(batch)
    with pytest.raises(InvalidArgumentError, match=r"ids\[1\]"):
        batch.remove_many(["id-2", "x" * 300])
    assert _state(batch) == before, "an invalid id in the batch removed something"
    _check(batch)


def test_search_many_equals_a_loop_of_search(make: Factory, subject: Subject) -> None:
    s = make()
    assert s.search_many([np.ones(DIM, np.float32)], k=3) == [[]]
    s.put_many(_rows(40))
    s.put("zero", np.zeros(DIM, np.float32), b"")
    rng = np.random.default_rng(5)
    queries = (rng.standard_normal((64, DIM)) * 10.0 ** rng.uniform(-3, 3, (64, 1))).astype(
        np.float32)
    for k in (1, 5, 100):
        got = s.search_many(queries, k=k)
        want = [s.search(q, k=k) for q in queries]
        assert [[id for id, _ in r] for r in got] == [[id for id, _ in r] for r in want]
        for g, w in zip(got, want, strict=True):
            np.testing.assert_allclose([v for _, v in g], [v for _, v in w], atol=1e-6)
        if subject.is_reference:  # its scores are each row's own: equal to the last bit
            assert got == want, f"search_many(k={k}) differs from a loop of search"
    assert s.search_many([], k=2) == []
    with pytest.raises(InvalidArgumentError):
        s.search_many([np.zeros(DIM, np.float32)], k=2)
