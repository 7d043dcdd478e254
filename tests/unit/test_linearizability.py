"""The linearizability checker on hand-written histories, and its speed on big real ones."""

from __future__ import annotations

import random
import threading
import time

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from warmtier.model import ModelStore
from warmtier.testing.concurrency.history import HistoryRecorder, StoreModel
from warmtier.testing.concurrency.linearizability import (
    Operation,
    RegisterModel,
    Verdict,
    check,
    check_part,
    format_history,
)


def w(client: int, key: str, value: object, call: float, ret: float | None) -> Operation:
    return Operation(client, "write", (key, value), None, call=call, ret=ret)


def r(client: int, key: str, result: object, call: float, ret: float | None) -> Operation:
    return Operation(client, "read", (key,), result, call=call, ret=ret)


def test_sequential_history_that_follows_the_model_is_linearizable() -> None:
    history = [w(0, "x", 1, 0, 1), r(0, "x", 1, 2, 3), w(0, "x", 2, 4, 5), r(0, "x", 2, 6, 7)]
    assert check(history, RegisterModel()).ok is True


def test_read_overlapping_a_write_may_see_either_value() -> None:
    for seen in (None, 1):
        history = [w(0, "x", 1, 0, 10), r(1, "x", seen, 2, 3)]
        result = check(history, RegisterModel())
        assert result.ok is True, f"read seeing {seen!r} during the write: {result.message}"


def test_stale_read_after_a_completed_write_is_not_linearizable() -> None:
    history = [w(0, "x", 1, 0, 1), r(1, "x", None, 2, 3)]
    result = check(history, RegisterModel())
    assert result.ok is False
    assert "not linearizable" in result.message


def test_new_old_inversion_between_two_readers_is_not_linearizable() -> None:
    # The write overlaps both reads; the first read sees it, a strictly later read does not.
    history = [w(0, "x", 1, 0, 10), r(1, "x", 1, 1, 2), r(2, "x", None, 3, 4)]
    assert check(history, RegisterModel()).ok is False


def test_two_overlapping_writes_may_land_in_either_order() -> None:
    for final in (1, 2):
        history = [w(0, "x", 1, 0, 5), w(1, "x", 2, 1, 6), r(2, "x", final, 7, 8)]
        assert check(history, RegisterModel()).ok is True


def test_reads_must_agree_on_the_order_of_overlapping_writes() -> None:
    history = [
        w(0, "x", 1, 0, 5),
        w(1, "x", 2, 1, 6),
        r(2, "x", 1, 7, 8),
        r(2, "x", 2, 9, 10),
    ]
    assert check(history, RegisterModel()).ok is False


def test_a_write_that_never_returned_may_or_may_not_have_taken_effect() -> None:
    for seen in (None, 7):
        history = [w(0, "x", 7, 0, None), r(1, "x", seen, 5, 6)]
        assert check(history, RegisterModel()).ok is True
    flip_flop = [w(0, "x", 7, 0, None), r(1, "x", 7, 5, 6), r(1, "x", None, 7, 8)]
    assert check(flip_flop, RegisterModel()).ok is False


def test_keys_are_checked_independently() -> None:
    history = [
        w(0, "x", 1, 0, 1),
        w(1, "y", 2, 0, 1),
        r(0, "y", 2, 2, 3),
        r(1, "x", 1, 2, 3),
        r(1, "y", None, 4, 5),  # the only violation, on y
    ]
    result = check(history, RegisterModel())
    assert result.ok is False
    assert {op.args[0] for op in result.counterexample} == {"y"}
    assert len(result.parts) == 2


def test_counterexample_is_shrunk_to_the_operations_that_matter() -> None:
    history = [w(0, "x", i, 4 * i, 4 * i + 1) for i in range(30)]
    history += [r(1, "x", i, 4 * i + 2, 4 * i + 3) for i in range(30)]
    history.append(r(1, "x", 3, 200, 201))  # stale: the last write was 29
    result = check(history, RegisterModel())
    assert result.ok is False
    shown = format_history(result.counterexample)
    reads = [op for op in result.counterexample if op.kind == "read"]
    writes = sorted(op.args[1] for op in result.counterexample if op.kind == "write")
    assert [op.result for op in reads] == [3], shown
    assert len(writes) == 2 and writes[0] == 3 and writes[1] > 3, shown


def test_counterexample_never_drops_the_write_a_read_depends_on() -> None:
    history = [w(0, "x", 1, 0, 1), r(1, "x", 1, 2, 3), r(1, "x", None, 4, 5)]
    result = check(history, RegisterModel())
    assert result.ok is False
    assert any(op.kind == "write" for op in result.counterexample)


def test_search_budget_gives_an_unknown_verdict_not_a_wrong_one() -> None:
    # 12 fully concurrent writes then a read of a value nobody wrote: the search must
    # explore many orders before giving up.
    history = [w(i, "x", i, 0, 100) for i in range(12)] + [r(99, "x", -1, 200, 201)]
    assert check_part(history, RegisterModel(), max_steps=50).ok is None
    assert check_part(history, RegisterModel()).ok is False


@given(st.lists(st.tuples(st.sampled_from("abc"), st.integers(0, 3), st.booleans()), max_size=40))
def test_any_sequential_run_of_the_model_is_linearizable(steps: list[tuple[str, int, bool]]) -> None:
    state: dict[str, int] = {}
    history = []
    for t, (key, value, is_write) in enumerate(steps):
        if is_write:
            state[key] = value
            history.append(w(t % 3, key, value, 2 * t, 2 * t + 1))
        else:
            history.append(r(t % 3, key, state.get(key), 2 * t, 2 * t + 1))
    assert check(history, RegisterModel()).ok is True


def _record_threads(store: ModelStore, threads: int, ops: int, keys: int) -> HistoryRecorder:
    recorder = HistoryRecorder()
    view = recorder.wrap(store)
    barrier = threading.Barrier(threads)

    def worker(n: int) -> None:
        rng = random.Random(n)
        barrier.wait()
        for i in range(ops):
            key = f"k{rng.randrange(keys)}"
            roll = rng.random()
            if roll < 0.4:
                view.put(key, np.full(4, n, np.float32), f"{n}:{i}".encode())
            elif roll < 0.9:
                view.get(key)
            else:
                view.remove(key)

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    old = __import__("sys").getswitchinterval()
    __import__("sys").setswitchinterval(1e-5)
    try:
        for t in pool:
            t.start()
        for t in pool:
            t.join()
    finally:
        __import__("sys").setswitchinterval(old)
    return recorder


def test_checker_accepts_a_real_5000_operation_history_of_the_model_store() -> None:
    recorder = _record_threads(ModelStore(dim=4), threads=8, ops=625, keys=50)
    history = recorder.history()
    assert len(history) == 5000
    start = time.perf_counter()
    result = check(history, StoreModel())
    elapsed = time.perf_counter() - start
    print(f"\nlinearizability check of {len(history)} operations in {elapsed:.3f} s "
          f"({len(result.parts)} partitions)")
    assert result.ok is True, result.message


def test_checker_rejects_a_history_with_a_torn_read() -> None:
    recorder = _record_threads(ModelStore(dim=4), threads=4, ops=100, keys=5)
    history = recorder.history()
    victim = next(i for i, op in enumerate(history) if op.kind == "get" and op.result)
    op = history[victim]
    history[victim] = Operation(op.client, op.kind, op.args, b"torn-value!!", op.call, op.ret)
    result = check(history, StoreModel())
    assert result.ok is False
    assert "<unwritten" in result.message or "torn" in result.message or result.counterexample


def test_store_model_checks_len_and_ids_against_the_whole_store() -> None:
    recorder = HistoryRecorder()
    view = recorder.wrap(ModelStore(dim=2))
    view.put("a", [1.0, 0.0], b"x")
    view.put("b", [1.0, 0.0], b"y")
    assert len(view) == 2 and sorted(view.ids()) == ["a", "b"]
    view.remove("a")
    assert "a" not in view and len(view) == 1
    history = recorder.history()
    assert check(history, StoreModel()).ok is True
    wrong = [
        Operation(op.client, op.kind, op.args, 5, op.call, op.ret) if op.kind == "len" else op
        for op in history
    ]
    assert check(wrong, StoreModel()).ok is False


def test_store_counterexample_keeps_the_writes_a_wrong_count_contradicts() -> None:
    def op(kind: str, args: tuple[object, ...], result: object, t: int) -> Operation:
        return Operation(0, kind, args, result, call=2 * t, ret=2 * t + 1)

    history = [
        op("put", ("a", b"va"), None, 0),
        op("get", ("a",), b"va", 1),
        op("put", ("b", b"vb"), None, 2),
        op("remove", ("b",), True, 3),
        op("len", (), 2, 4),  # one id is live
    ]
    result = check(history, StoreModel())
    assert result.ok is False
    kinds = sorted(o.kind for o in result.counterexample)
    assert kinds == ["len", "put", "put", "remove"], format_history(result.counterexample)


def test_a_search_out_of_time_is_unknown_not_illegal() -> None:
    history = [w(i, "x", i, 0, 100) for i in range(10)] + [r(99, "x", -1, 200, 201)]
    assert check(history, RegisterModel(), timeout=0.0).verdict is Verdict.UNKNOWN
    assert check(history, RegisterModel(), shrink=False).verdict is Verdict.ILLEGAL
    assert check(history[:-1], RegisterModel()).verdict is Verdict.OK


def _batch(kind: str, args: tuple[object, ...], result: object, call: int, ret: int | None,
           client: int = 0) -> Operation:
    return Operation(client, kind, args, result, call=call, ret=ret)


def test_a_get_many_that_sees_half_of_a_completed_put_many_is_not_linearizable() -> None:
    history = [
        _batch("put_many", ((("a", b"va"), ("b", b"vb"))), None, 0, 3),
        _batch("get_many", ("a", "b"), (b"va", None), 1, 2, client=1),  # inside the batch
    ]
    result = check(history, StoreModel())
    assert result.ok is False, "half a batch seen by a read that overlaps it was accepted"
    assert len(result.counterexample) == 2, format_history(result.counterexample)
    whole = [history[0], _batch("get_many", ("a", "b"), (b"va", b"vb"), 1, 2, client=1)]
    assert check(whole, StoreModel()).ok is True, "the whole batch seen was refused"


def test_a_put_many_that_raised_may_have_applied_any_prefix() -> None:
    recorder = HistoryRecorder()
    view = recorder.wrap(ModelStore(dim=2))

    class Broken:
        """put_many that applies its first record, then raises."""

        def __init__(self, store: ModelStore) -> None:
            self.store = store

        def put_many(self, records: list[tuple[str, list[float], bytes]]) -> None:
            self.store.put(*records[0])
            raise OSError("disk gone")

    view.store = Broken(view.store)
    with pytest.raises(OSError):
        view.put_many([("a", [1.0, 0.0], b"x"), ("b", [0.0, 1.0], b"y")])
    view.store = view.store.store
    assert [view.get("a") is not None, view.get("b") is not None] == [True, False]
    assert check(recorder.history(), recorder.model()).ok is True, format_history(
        recorder.history())
