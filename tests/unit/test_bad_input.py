"""Every argument rule of the contract: InvalidArgumentError, raised before anything changes.

Runs against any store (``--warmtier-store``): the store is compared with a snapshot of
itself taken before each bad call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from warmtier import InvalidArgumentError
from warmtier.testing.compare import states_equal
from warmtier.testing.subject import Subject

DIM = 4
GOOD = np.array([0.5, -1.0, 0.0, 2.0], dtype=np.float32)
LIMIT = 1024

BAD_EMBEDDINGS: list[tuple[str, Any]] = [
    ("too_short", [1.0, 2.0, 3.0]),
    ("too_long", [1.0] * (DIM + 1)),
    ("two_dimensional", np.ones((1, DIM), np.float32)),
    ("scalar", 1.0),
    ("float64_wrong_length", np.ones(DIM + 3, np.float64)),
    ("nan", [1.0, float("nan"), 0.0, 0.0]),
    ("inf", [1.0, float("inf"), 0.0, 0.0]),
    ("minus_inf", [float("-inf"), 0.0, 0.0, 0.0]),
    ("overflows_float32", [1e39, 0.0, 0.0, 0.0]),
    ("float32_nan", np.array([1.0, np.nan, 0.0, 0.0], np.float32)),  # the stored type:
    ("float32_inf", np.array([np.inf, 0.0, 0.0, 0.0], np.float32)),  # a fast path takes it
    ("complex", np.array([1 + 2j, 0, 0, 0])),
    ("strings", ["a", "b", "c", "d"]),
    ("a_string", "abcd"),
    ("bytes", b"\x00\x00\x80?" * DIM),
    ("none", None),
    ("ragged", [[1.0], [2.0, 3.0]]),
    ("dict", {"a": 1}),
]

BAD_IDS: list[tuple[str, Any]] = [
    ("empty", ""),
    ("256_ascii_bytes", "a" * 256),
    ("256_bytes_multibyte", "é" * 128),
    ("lone_surrogate", "ab\udc80"),
    ("bytes", b"abc"),
    ("int", 7),
    ("none", None),
]

BAD_CONTENTS: list[tuple[str, Any]] = [
    ("int", 5),
    ("none", None),
    ("list", [1, 2]),
    ("lone_surrogate_str", "x\ud800"),
    ("array", np.zeros(3, np.uint8)),
    ("bytearray", bytearray(b"ab")),  # bytes-like is not bytes (found by the bug zoo)
    ("memoryview", memoryview(b"ab")),
]

BAD_CONFIDENCES: list[tuple[str, Any]] = [
    ("negative", -0.1),
    ("above_one", 1.5),
    ("nan", float("nan")),
    ("inf", float("inf")),
    ("string", "0.5"),
    ("none", None),
]


def snapshot(store: Any) -> dict[str, Any]:
    return {rid: store.get(rid) for rid in store.ids()}


def filled(store: Any) -> Any:
    store.put("keep", GOOD, b"kept content", 0.25)
    store.put("other", [1, 1, 1, 1], "", 1.0)
    return store


@pytest.fixture
def store(make_store: Callable[..., Any]) -> Any:
    """Any store, with two records."""
    return filled(make_store(dim=DIM))


@pytest.fixture
def limited_store(make_store: Callable[..., Any]) -> Any:
    """A store created with ``max_content=LIMIT`` (skipped for a store without that
    option), with two records."""
    return filled(make_store(dim=DIM, max_content=LIMIT))


def assert_rejected_unchanged(store: Any, call: Callable[[], Any], what: str) -> None:
    before = snapshot(store)
    with pytest.raises(InvalidArgumentError) as info:
        call()
    assert_says_why(info.value, what)
    after = snapshot(store)
    assert states_equal(after, before), (
        f"{what}: the store changed after a rejected call: {before} -> {after}")
    assert len(store) == len(before)
    if hasattr(store, "check"):
        store.check()


def assert_says_why(error: BaseException, what: str) -> None:
    """A clear error carries a message, not an empty or ``None`` one."""
    message = str(error)
    assert message and message != "None" and error.args[0] is not None, (
        f"{what}: {type(error).__name__} raised with no message ({error.args!r})"
    )


@pytest.mark.parametrize(("name", "embedding"), BAD_EMBEDDINGS, ids=[n for n, _ in BAD_EMBEDDINGS])
@pytest.mark.parametrize("target", ["new", "existing"])
def test_bad_embedding_is_rejected_and_changes_nothing(
    store: Any, name: str, embedding: Any, target: str
) -> None:
    rid = "keep" if target == "existing" else "fresh"
    assert_rejected_unchanged(store, lambda: store.put(rid, embedding, b"x"), f"embedding {name}")


BAD_RECORDS: list[tuple[str, Any]] = [
    *((f"embedding_{n}", ("fresh", e, b"x", 1.0)) for n, e in BAD_EMBEDDINGS),
    *((f"id_{n}", (i, GOOD, b"x", 1.0)) for n, i in BAD_IDS),
    *((f"content_{n}", ("fresh", GOOD, c, 1.0)) for n, c in BAD_CONTENTS),
    ("five_fields", ("fresh", GOOD, b"x", 1.0, 0)),
    ("not_a_record", 7),
]


@pytest.mark.parametrize(("name", "bad"), BAD_RECORDS, ids=[n for n, _ in BAD_RECORDS])
@pytest.mark.parametrize("at", [0, 2])
def test_put_many_with_one_bad_record_is_rejected_and_writes_none(
    store: Any, subject: Subject, name: str, bad: Any, at: int
) -> None:
    if "put_many" not in subject.batch_calls:
        pytest.skip("the store declares no put_many (batch_calls)")
    good = [(f"good-{j}", GOOD, b"new", 0.5) for j in range(2)]
    batch = [*good[:at], bad, *good[at:]]
    assert_rejected_unchanged(store, lambda: store.put_many(batch), f"put_many, {name} at {at}")


@pytest.mark.parametrize(("name", "rid"), BAD_IDS, ids=[n for n, _ in BAD_IDS])
def test_bad_id_is_rejected_by_put_get_and_remove(store: Any, name: str, rid: Any) -> None:
    assert_rejected_unchanged(store, lambda: store.put(rid, GOOD, b"x"), f"put id {name}")
    assert_rejected_unchanged(store, lambda: store.get(rid), f"get id {name}")
    assert_rejected_unchanged(store, lambda: store.remove(rid), f"remove id {name}")


@pytest.mark.parametrize(("name", "content"), BAD_CONTENTS, ids=[n for n, _ in BAD_CONTENTS])
@pytest.mark.parametrize("target", ["new", "existing"])
def test_bad_content_is_rejected_and_changes_nothing(
    store: Any, name: str, content: Any, target: str
) -> None:
    rid = "keep" if target == "existing" else "fresh"
    assert_rejected_unchanged(store, lambda: store.put(rid, GOOD, content), f"content {name}")


def test_content_over_the_limit_is_rejected_and_at_the_limit_accepted(limited_store: Any) -> None:
    store = limited_store
    assert_rejected_unchanged(store, lambda: store.put("keep", GOOD, b"x" * (LIMIT + 1)),
                              f"{LIMIT + 1} B content")
    store.put("edge", GOOD, b"y" * LIMIT)
    assert store.get("edge").content == b"y" * LIMIT


@pytest.mark.parametrize(("name", "confidence"), BAD_CONFIDENCES,
                         ids=[n for n, _ in BAD_CONFIDENCES])
def test_bad_confidence_is_rejected_and_changes_nothing(
    store: Any, name: str, confidence: Any
) -> None:
    assert_rejected_unchanged(store, lambda: store.put("keep", GOOD, b"new", confidence),
                              f"confidence {name}")


@pytest.mark.parametrize(("name", "query"), [*BAD_EMBEDDINGS, ("zero", [0.0] * DIM),
                                             ("minus_zero", [-0.0] * DIM)],
                         ids=[n for n, _ in BAD_EMBEDDINGS] + ["zero", "minus_zero"])
def test_bad_query_is_rejected(store: Any, name: str, query: Any) -> None:
    assert_rejected_unchanged(store, lambda: store.search(query, k=3), f"query {name}")


@pytest.mark.parametrize("k", [0, -1, 1.5, "3", None])
def test_bad_k_is_rejected(store: Any, k: Any) -> None:
    assert_rejected_unchanged(store, lambda: store.search(GOOD, k=k), f"k={k!r}")


def test_valid_edge_values_are_accepted(store: Any) -> None:
    rid = "é" * 127 + "a"  # exactly 255 UTF-8 bytes
    assert len(rid.encode()) == 255
    store.put(rid, [0.0, -0.0, np.float32(1e-45), np.finfo(np.float32).max], "text é", 0.0)
    rec = store.get(rid)
    assert rec is not None
    assert rec.content == "text é".encode()
    assert rec.confidence == 0.0
    assert np.signbit(rec.embedding[1]), "-0.0 must stay -0.0"
    assert rec.embedding[2] == np.float32(1e-45)
    store.put("ints", np.arange(DIM, dtype=np.int64), b"", 1)
    assert store.get("ints").embedding.dtype == np.float32


@pytest.mark.parametrize("batch_size", [0, -1, 1.5, "8", None, True])
def test_bad_scan_batch_size_is_rejected(store: Any, batch_size: Any) -> None:
    assert_rejected_unchanged(store, lambda: list(store.scan(batch_size=batch_size)),
                              f"batch_size={batch_size!r}")


def test_every_batch_size_from_one_yields_every_record_once(store: Any) -> None:
    for i in range(5):
        store.put(f"extra{i}", GOOD, b"e")
    expected = snapshot(store)
    for batch_size in (1, 2, len(expected), 1024):
        got = [r.id for r in store.scan(batch_size=batch_size)]
        assert sorted(got) == sorted(expected), f"scan(batch_size={batch_size}) gave {got}"


BAD_CREATE_ARGS: list[tuple[str, dict[str, Any]]] = [
    ("dim_zero", {"dim": 0}),
    ("dim_negative", {"dim": -3}),
    ("dim_float", {"dim": 4.0}),
    ("dim_bool", {"dim": True}),
    ("dim_string", {"dim": "4"}),
]


@pytest.mark.parametrize(("name", "kwargs"), BAD_CREATE_ARGS, ids=[n for n, _ in BAD_CREATE_ARGS])
def test_bad_create_arguments_are_rejected_and_create_nothing(
    store_class: Any, tmp_path: Any, name: str, kwargs: dict[str, Any]
) -> None:
    path = tmp_path / "new"
    with pytest.raises(InvalidArgumentError) as info:
        store_class.create(path, **kwargs)
    assert_says_why(info.value, name)
    assert not path.exists() or not any(path.iterdir()), f"{name}: create left files behind"
    with store_class.create(path, dim=2) as s:  # the path is still free for a good create
        assert len(s) == 0
