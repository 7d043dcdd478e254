"""The batch calls (docs/contract-extensions.md) mean what a loop of the single-record
calls means: each test runs both on the same inputs and compares. Runs against any store
that declares them (``batch_calls``); the failpoint test is the reference store's."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from warmtier import InvalidArgumentError, Record, WarmTierStore, failpoints
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
def test_put_many_interrupted_leaves_a_prefix_applied(tmp_path: Path) -> None:
    rows = _rows(12)
    with WarmTierStore.create(tmp_path / "s", dim=DIM) as s:
        with failpoints.armed("put.after_content", failpoints.Raise(), skip=5, times=1), \
                pytest.raises(failpoints.InjectedFault):
            s.put_many(rows)
        s.check()
        with WarmTierStore.create(tmp_path / "prefix", dim=DIM) as expected:
            for row in rows[:5]:
                _put_one(expected, row)
            assert _state(s) == _state(expected)
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


def test_search_many_equals_a_loop_of_search(make: Factory) -> None:
    s = make()
    assert s.search_many([np.ones(DIM, np.float32)], k=3) == [[]]
    s.put_many(_rows(40))
    s.put("zero", np.zeros(DIM, np.float32), b"")
    queries = np.random.default_rng(5).standard_normal((6, DIM)).astype(np.float32)
    for k in (1, 5, 100):
        got = s.search_many(queries, k=k)
        want = [s.search(q, k=k) for q in queries]
        assert [[id for id, _ in r] for r in got] == [[id for id, _ in r] for r in want]
        for g, w in zip(got, want, strict=True):
            np.testing.assert_allclose([v for _, v in g], [v for _, v in w], atol=1e-6)
    assert s.search_many([], k=2) == []
    with pytest.raises(InvalidArgumentError):
        s.search_many([np.zeros(DIM, np.float32)], k=2)
