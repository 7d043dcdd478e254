"""Lifecycle rules of the contract: create, open, close, locking, reopen, search and stats.

Runs against any store; the reference store's own extras are marked ``reference_only``.
"""

from __future__ import annotations

import errno
import gc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from warmtier import (
    CompactionStats,
    InvalidArgumentError,
    StoreClosedError,
    StoreLockedError,
)
from warmtier.model import ModelStore
from warmtier.testing.compare import assert_compaction_consistent, states_equal
from warmtier.testing.subject import Subject


def test_create_refuses_a_non_empty_directory(store_class: Any, tmp_path: Path) -> None:
    (tmp_path / "junk").write_text("x")
    with pytest.raises(InvalidArgumentError):
        store_class.create(tmp_path, dim=4)
    assert (tmp_path / "junk").read_text() == "x"


def test_create_accepts_an_empty_directory(store_class: Any, tmp_path: Path) -> None:
    d = tmp_path / "empty"
    d.mkdir()
    with store_class.create(d, dim=4) as s:
        assert len(s) == 0
        assert s.dim == 4


def test_open_of_a_missing_path_raises_file_not_found(store_class: Any, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as info:
        store_class.open(tmp_path / "nothing-here")
    assert info.value.errno == errno.ENOENT, f"errno is {info.value.errno!r}, not ENOENT"


def test_reopen_after_close_returns_every_record(store_class: Any, tmp_path: Path) -> None:
    path = tmp_path / "s"
    rng = np.random.default_rng(1)
    expected = {}
    with store_class.create(path, dim=8) as s:
        for i in range(300):
            emb = rng.standard_normal(8).astype(np.float32)
            content = bytes(rng.integers(0, 256, int(rng.integers(0, 2000)), dtype=np.uint8))
            s.put(f"r{i}", emb, content, float(np.float32(rng.random())))
        for i in range(0, 300, 3):
            s.remove(f"r{i}")
        for i in range(1, 300, 3):
            s.put(f"r{i}", np.ones(8), b"replaced", 0.5)
        expected = {rid: s.get(rid) for rid in s.ids()}
    with store_class.open(path) as s:
        assert states_equal({rid: s.get(rid) for rid in s.ids()}, expected)
        assert len(s) == len(expected) == 200


@pytest.mark.promise("locking")
def test_a_second_open_of_an_open_store_is_locked_out(store_class: Any, tmp_path: Path) -> None:
    path = tmp_path / "s"
    with store_class.create(path, dim=4) as s:
        s.put("a", [1, 2, 3, 4], b"x")
        with pytest.raises(StoreLockedError):
            store_class.open(path)
        assert s.get("a").content == b"x", "the holder must not be disturbed"
    with store_class.open(path) as again:
        assert again.get("a").content == b"x"


def test_every_call_after_close_raises_store_closed(make_store: Callable[..., Any]) -> None:
    s = make_store(dim=4)
    s.put("a", [1, 0, 0, 0], b"x")
    s.close()
    s.close()  # closing twice is harmless
    calls: list[Callable[[], Any]] = [
        lambda: s.put("b", [1, 0, 0, 0], b"y"), lambda: s.get("a"), lambda: s.remove("a"),
        lambda: len(s), lambda: "a" in s, lambda: s.ids(), lambda: list(s.scan()),
        lambda: s.search([1, 0, 0, 0]), lambda: s.compact(), lambda: s.flush(),
        lambda: s.stats(),
    ]
    for call in calls:
        with pytest.raises(StoreClosedError):
            call()


def test_abandoned_store_reopens_with_every_completed_write(
    subject: Subject, tmp_path: Path
) -> None:
    """A store claiming no loss (``crash_promise = "no-loss"``) keeps every completed
    write; any other store comes back as the state after some prefix of them (the
    contract's promise: nothing was flushed)."""
    path = tmp_path / "s"
    ops: list[tuple[str, Any]] = [("put", (f"k{i}", [i, 1, 0, 0], f"v{i}")) for i in range(50)]
    ops += [("remove", "k7"),
            ("put", ("k8", [8, 2, 0, 0], "v8 again")),  # older versions must not return
            ("put", ("k8", [8, 3, 0, 0], "v8 thrice")),
            ("remove", "k8"),
            ("put", ("k9", [9, 2, 0, 0], "v9 again"))]
    s = subject.create(path, 4)
    for op, arg in ops:
        s.put(*arg) if op == "put" else s.remove(arg)
    del s
    gc.collect()
    with subject.open(path) as s:
        if subject.no_loss:
            assert len(s) == 48
            assert s.get("k7") is None and s.get("k8") is None, "a removed id came back"
            assert s.get("k9").content == b"v9 again"
            assert s.get("k49").content == b"v49"
            return
        actual = {r.id: r for r in s.scan()}
    model = ModelStore(4)
    prefixes: list[dict[str, Any]] = [{}]
    for op, arg in ops:
        model.put(*arg) if op == "put" else model.remove(arg)
        prefixes.append({r.id: r for r in model.scan()})
    assert any(states_equal(actual, state) for state in prefixes), (
        f"expected the state after some prefix of the {len(ops)} operations; got "
        f"{len(actual)} records: {sorted(actual)[:8]}")


def test_search_orders_by_score_then_id_and_scores_zero_norm_as_zero(
    make_store: Callable[..., Any],
) -> None:
    s = make_store(dim=3)
    s.put("b", [1, 0, 0], b"")
    s.put("a", [2, 0, 0], b"")  # same direction as b: a tie, broken by id
    s.put("z", [0, 0, 0], b"")
    s.put("c", [0, 1, 0], b"")
    s.put("d", [-1, 0, 0], b"")
    result = s.search([3, 0, 0], k=10)
    assert [rid for rid, _ in result] == ["a", "b", "c", "z", "d"]
    scores = dict(result)
    assert scores["a"] == pytest.approx(1.0, abs=1e-6)
    assert scores["z"] == 0.0 and scores["c"] == pytest.approx(0.0, abs=1e-6)
    assert scores["d"] == pytest.approx(-1.0, abs=1e-6)
    assert s.search([1, 0, 0], k=2) == result[:2]


def test_search_survives_float32_extremes_and_subnormals(make_store: Callable[..., Any]) -> None:
    big = np.finfo(np.float32).max
    s = make_store(dim=2)
    s.put("huge", [big, big], b"")
    s.put("tiny", [1e-45, 1e-45], b"")
    s.put("unit", [1, 0], b"")
    result = dict(s.search([1, 1], k=3))
    assert result["huge"] == pytest.approx(1.0, abs=1e-5)
    assert result["tiny"] == pytest.approx(1.0, abs=1e-5)
    assert result["unit"] == pytest.approx(2**-0.5, abs=1e-5)


def _scores_against_self_and_opposite(s: Any) -> list[list[float]]:
    """Score 40 random vectors, their opposites and scaled copies of both against each of
    the vectors and its opposite: the cases where rounding pushes a cosine past +-1."""
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((40, 33)).astype(np.float32)
    for i, v in enumerate(vectors):
        for j, scale in enumerate((1e-3, 1.0, 3e3)):
            s.put(f"p{i}.{j}", v * np.float32(scale), b"")
            s.put(f"n{i}.{j}", v * np.float32(-scale), b"")
    return [[score for _, score in s.search(q, k=len(s))] for v in vectors for q in (v, -v)]


def test_search_scores_stay_within_rounding_of_minus_one_to_one(
    make_store: Callable[..., Any],
) -> None:
    for scores in _scores_against_self_and_opposite(make_store(dim=33)):
        assert min(scores) >= -1.0 - 1e-6 and max(scores) <= 1.0 + 1e-6, (min(scores), max(scores))
        assert scores[0] == pytest.approx(1.0, abs=1e-6)
        assert scores[-1] == pytest.approx(-1.0, abs=1e-6)


@pytest.mark.reference_only
def test_the_reference_store_clips_scores_to_minus_one_to_one(
    make_store: Callable[..., Any],
) -> None:
    for scores in _scores_against_self_and_opposite(make_store(dim=33)):
        assert min(scores) >= -1.0 and max(scores) <= 1.0, (min(scores), max(scores))


def test_search_scores_subnormal_embeddings_as_exactly_as_normal_ones(
    make_store: Callable[..., Any],
) -> None:
    """Products of subnormal float32 values lose most of their digits; the score must still
    be the cosine of the stored embedding, computed as if in exact arithmetic."""
    s = make_store(dim=2)
    for i, emb in enumerate(([3e-44, 5e-44], [7e-45, -2e-44], [1e-40, 3e-41], [2.0, 1e-44])):
        s.put(f"e{i}", emb, b"")
    query = np.array([3.0, 5.0])
    for rid, score in s.search(query, k=4):
        e = s.get(rid).embedding.astype(np.float64)
        exact = float(e @ query / (np.linalg.norm(e) * np.linalg.norm(query)))
        assert score == pytest.approx(exact, abs=1e-6), f"{rid}: {score} != {exact}"


def test_integers_beyond_int64_are_numbers_too(make_store: Callable[..., Any]) -> None:
    s = make_store(dim=2)
    s.put("big", [2**70, -(2**65)], b"")  # numpy holds these as objects, not int64
    assert s.get("big").embedding.tolist() == [float(np.float32(2**70)), float(np.float32(-(2**65)))]


def test_records_handed_out_never_change(make_store: Callable[..., Any]) -> None:
    s = make_store(dim=2)
    s.put("a", [1, 2], b"first")
    rec = s.get("a")
    s.put("a", [3, 4], b"second")
    s.compact()
    assert rec.content == b"first" and rec.embedding.tolist() == [1.0, 2.0]
    with pytest.raises((ValueError, TypeError, AttributeError)):
        rec.embedding[0] = 9


def test_compaction_keeps_records_and_drops_fragmentation(
    make_store: Callable[..., Any], subject: Subject
) -> None:
    """Any store: the records come out unchanged and the result has the contract's fields.
    The reference store, by its own measure: space reclaimed, fragmentation near 0."""
    s = make_store(dim=2)
    for i in range(200):
        s.put(f"k{i:03d}", [i, 1], bytes([i % 256]) * (100 + i))
    for i in range(0, 200, 2):
        s.remove(f"k{i:03d}")
    s.flush()
    before = {rid: s.get(rid) for rid in s.ids()}
    frag = s.stats().fragmentation
    result = s.compact()
    after = {rid: s.get(rid) for rid in s.ids()}
    assert states_equal(after, before), "compact() changed the records"
    assert_compaction_consistent(result, s.stats(), reference=subject.is_reference)
    if subject.is_reference:
        assert isinstance(result, CompactionStats)
        assert result.bytes_reclaimed == result.bytes_before - result.bytes_after >= 0
        assert s.stats().fragmentation <= frag
        assert s.stats().fragmentation < 0.05


@pytest.mark.parametrize("removed", [0, 3], ids=["never_used", "all_removed"])
def test_compacting_an_empty_store_keeps_it_working(make_store: Callable[..., Any],
                                                     removed: int) -> None:
    s = make_store(dim=2)
    for i in range(removed):
        s.put(f"k{i}", [1, i], b"x" * 10)
        s.remove(f"k{i}")
    stats = s.compact()
    assert len(s) == 0 and s.ids() == [] and s.search([1, 0], k=3) == []
    assert getattr(stats, "records_moved", 0) == 0
    s.put("new", [0, 1], b"after")
    assert s.get("new").content == b"after"


@pytest.mark.reference_only
def test_removing_every_other_record_fragments_and_compaction_reclaims_it(
    make_store: Callable[..., Any],
) -> None:
    s = make_store(dim=2)
    for i in range(200):
        s.put(f"k{i:03d}", [i, 1], b"x" * 500)
    for i in range(0, 200, 2):
        s.remove(f"k{i:03d}")
    s.flush()
    assert s.stats().fragmentation > 0.4
    result = s.compact()
    assert result.bytes_reclaimed >= 99 * 500
    assert s.stats().fragmentation == 0.0
    s.check()


def test_files_grow_past_the_initial_capacity_and_keep_every_record(subject: Subject,
                                                                    tmp_path: Path) -> None:
    path = tmp_path / "s"
    with subject.create(path, 4, initial_capacity=2, initial_content_bytes=0) as s:
        for i in range(500):
            s.put(f"k{i}", [i, 0, 0, 1], b"z" * (i % 700))
        if subject.is_reference:  # capacity by the reference store's own measure
            assert s.stats().capacity >= 500
        if subject.has_check:
            s.check()
    with subject.open(path) as s:
        assert len(s) == 500
        assert s.get("k499").content == b"z" * 499
        if subject.has_check:
            s.check()


@pytest.mark.reference_only
def test_growth_beyond_the_configured_maximum_is_a_capacity_error_that_changes_nothing(
    store_class: Any, tmp_path: Path
) -> None:
    from warmtier import CapacityError

    with store_class.create(tmp_path / "s", dim=2, initial_capacity=4, max_slots=8) as s:
        for i in range(8):
            s.put(f"k{i}", [1, i], b"v")
        with pytest.raises(CapacityError):
            s.put("one-too-many", [1, 1], b"v")
        assert len(s) == 8 and s.get("one-too-many") is None
        s.check()
        s.remove("k0")
        s.put("one-too-many", [1, 1], b"v")  # freed space is usable again
        assert s.get("one-too-many").content == b"v"
