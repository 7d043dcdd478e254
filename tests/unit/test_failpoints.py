"""The failpoint API, and the reference store's promise that an injected fault is harmless."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

import pytest

from warmtier import WarmTierStore, failpoints
from warmtier.failpoints import Count, InjectedFault, Raise
from warmtier.format import (
    CURRENT_NAME,
    LOCK_NAME,
    content_name,
    embeddings_name,
    read_current,
    slots_name,
)
from warmtier.model import ModelStore


@pytest.fixture(autouse=True)
def _clean() -> Any:
    failpoints.disarm_all()
    yield
    failpoints.disarm_all()


def test_an_unarmed_failpoint_does_nothing() -> None:
    failpoints.failpoint("anything")


def test_skip_and_times_select_which_hits_fire() -> None:
    count = Count()
    fired: list[str] = []
    failpoints.arm("a.*", count)
    with failpoints.armed("a.x", failpoints.Call(fired.append), skip=1, times=2):
        for _ in range(5):
            failpoints.failpoint("a.x")
        failpoints.failpoint("b.x")
    assert fired == ["a.x", "a.x"]
    assert count.hits == {"a.x": 5}


def test_raise_uses_the_given_exception_or_an_injected_fault() -> None:
    with failpoints.armed("p", Raise()), pytest.raises(InjectedFault, match="'p'"):
        failpoints.failpoint("p")
    with failpoints.armed("p", Raise(KeyError("k"))), pytest.raises(KeyError):
        failpoints.failpoint("p")


@pytest.mark.reference_only
def test_every_declared_failpoint_is_reached_by_a_full_workload(
    make_store: Callable[..., Any],
) -> None:
    count = Count()
    failpoints.arm("*", count)
    s = make_store(dim=2, initial_capacity=1, initial_content_bytes=0)
    for i in range(20):
        s.put(f"k{i}", [1, i], b"x" * 5000)
        s.put(f"k{i}", [1, i], b"y")
    s.remove("k0")
    s.flush()
    s.compact()
    failpoints.disarm_all()
    missing = set(WarmTierStore.failpoint_names) - set(count.hits)
    assert not missing, f"declared failpoints never reached: {sorted(missing)}"
    undeclared = set(count.hits) - set(WarmTierStore.failpoint_names)
    assert not undeclared, f"failpoints reached but not declared: {sorted(undeclared)}"


@pytest.mark.reference_only
@pytest.mark.parametrize("name", WarmTierStore.failpoint_names)
def test_a_fault_injected_anywhere_leaves_the_store_all_or_nothing(
    make_store: Callable[..., Any], name: str
) -> None:
    s = make_store(dim=2, initial_capacity=3, initial_content_bytes=0)
    model = ModelStore(dim=2)
    for t in (s, model):  # a full slots file and arena: the next put must grow both
        for i in range(3):
            t.put(f"k{i}", [1, i], b"a" * 1365)
    steps: list[tuple[str, Callable[[Any], Any]]] = [
        ("replace k0, forcing growth", lambda t: t.put("k0", [2, 2], b"b" * 5000)),
        ("put new", lambda t: t.put("new", [3, 3], b"c" * 9000)),
        ("remove k0", lambda t: t.remove("k0")),
        ("replace k1", lambda t: t.put("k1", [4, 4], b"d" * 100)),
        ("flush", lambda t: t.flush()),
        ("compact", lambda t: t.compact()),
    ]
    fired = 0
    with failpoints.armed(name, Raise()):
        for label, step in steps:
            before = state(model)
            after_model = ModelStore(dim=2)
            for rec in before.values():
                after_model.put(rec.id, rec.embedding, rec.content, rec.confidence)
            step(after_model)
            after = state(after_model)
            try:
                step(s)
            except InjectedFault:
                fired += 1
            got = state(s)
            assert got in (before, after), (
                f"fault at {name} during {label!r}: the store is neither the state before "
                f"nor after the call\nbefore={before}\nafter={after}\ngot={got}"
            )
            s.check()
            gen = read_current(s.path)
            stray = sorted(set(os.listdir(s.path)) - {CURRENT_NAME, LOCK_NAME, slots_name(gen),
                                                      embeddings_name(gen), content_name(gen)})
            assert not stray, f"fault at {name} during {label!r} left files behind: {stray}"
            model = after_model if got == after else model
    assert fired, f"the workload never reached {name}"
    s.put("later", [5, 5], b"works")
    assert s.get("later").content == b"works"
    s.close()
    reopened = WarmTierStore.open(s.path)
    assert state(reopened) == {**state(model), "later": reopened.get("later")}
    reopened.close()


def state(store: Any) -> dict[str, Any]:
    return {rid: store.get(rid) for rid in store.ids()}


@pytest.mark.reference_only
@pytest.mark.parametrize("after", ["create", "compact", "reopen"])
def test_growth_failpoints_name_the_file_that_grows_however_it_was_opened(
    tmp_path: Any, after: str
) -> None:
    """The slots and content files are mapped by create, by compact (a new generation) and
    by open; growth of each must pass its own failpoints, or fault injection misses it."""
    s = WarmTierStore.create(tmp_path / "s", dim=2, initial_capacity=1, initial_content_bytes=0)
    s.put("first", [1, 0], b"x")
    if after == "compact":
        s.compact()
    elif after == "reopen":
        s.close()
        s = WarmTierStore.open(tmp_path / "s")
    count = Count()
    with failpoints.armed("grow.*", count):
        s.put("second", [0, 1], b"y" * 10_000)
    s.close()
    assert set(count.hits) == {f"grow.{f}.{p}" for f in ("slots", "embeddings", "content")
                               for p in ("before_extend", "before_remap")}, count.hits


def test_skip_passes_over_exactly_that_many_hits() -> None:
    fired: list[int] = []
    hit = 0
    with failpoints.armed("p", failpoints.Call(lambda _: fired.append(hit)), skip=2):
        for hit in range(1, 5):  # noqa: B007 (the action reads it)
            failpoints.failpoint("p")
    assert fired == [3, 4], f"with skip=2 the 3rd and 4th hits fire; fired at hits {fired}"


def test_every_matching_arming_sees_every_hit_whatever_the_others_do() -> None:
    fired: list[str] = []
    with failpoints.armed("p", failpoints.Call(lambda _: fired.append("skipping")), skip=5), \
            failpoints.armed("p", failpoints.Call(lambda _: fired.append("spent")), times=0), \
            failpoints.armed("p", failpoints.Call(lambda _: fired.append("last"))):
        failpoints.failpoint("p")
    assert fired == ["last"]


def test_an_arming_for_another_thread_ignores_this_one() -> None:
    fired: list[str] = []
    other = threading.Thread(target=lambda: None)
    other.start()
    other.join()
    assert other.ident is not None and other.ident != threading.get_ident()
    with failpoints.armed("p", failpoints.Call(fired.append), thread=other.ident):
        failpoints.failpoint("p")
    assert fired == []
    with failpoints.armed("p", failpoints.Call(fired.append), thread=threading.get_ident()):
        failpoints.failpoint("p")
    assert fired == ["p"]
