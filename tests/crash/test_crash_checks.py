"""The crash promises as checks: the reference promise (every completed operation, the
in-flight one all or nothing), the any-store promise (a prefix covering the last flush),
the power-loss promise (durable value or a later one per id), each with batch calls (the
loop of their records: a kill leaves a prefix of a batch, never a later record without an
earlier one), and the oracle log."""

from __future__ import annotations

import os

from warmtier.testing.crash.checks import kill_problems, power_loss_problems
from warmtier.testing.crash.faults import effect_problems
from warmtier.testing.crash.oracle import OracleWriter, read_oracle
from warmtier.testing.crash.points import KillPoint, parse_replay
from warmtier.testing.crash.workload import DIM, Batch, Op, Timeline


def _put(i: int, ident: str, byte: int) -> Op:
    return Op(i, "put", ident, (float(byte),) * DIM, bytes([byte]) * 3, byte / 10)


# put a, flush, put b, replace a, remove b
OPS = [_put(0, "a", 1), Op(1, "flush"), _put(2, "b", 2), _put(3, "a", 3), Op(4, "remove", "b")]
TIMELINE = Timeline(OPS)
STATES = TIMELINE.states


def test_the_reference_promise_takes_every_completed_operation_and_the_in_flight_one_whole() -> None:
    assert kill_problems(STATES[4], TIMELINE, 4, in_flight=False, strict=True) == []
    assert kill_problems(STATES[4], TIMELINE, 4, in_flight=True, strict=True) == []
    assert kill_problems(STATES[5], TIMELINE, 4, in_flight=True, strict=True) == []
    lost = kill_problems(STATES[3], TIMELINE, 4, in_flight=True, strict=True)
    assert lost and "'a'" in "\n".join(lost), lost


def test_the_any_store_promise_takes_a_prefix_that_covers_the_last_flush() -> None:
    assert kill_problems(STATES[2], TIMELINE, 4, in_flight=False, strict=False) == []
    assert kill_problems(STATES[3], TIMELINE, 4, in_flight=False, strict=False) == []
    before_flush = kill_problems(STATES[0], TIMELINE, 4, in_flight=False, strict=False)
    assert before_flush, "a state from before the last completed flush was accepted"


def test_power_loss_allows_the_durable_value_or_a_later_one_per_id_and_nothing_else() -> None:
    a1, a3, b2 = STATES[1]["a"], STATES[4]["a"], STATES[3]["b"]
    for ok in ({"a": a1}, {"a": a3}, {"a": a1, "b": b2}, {"a": a3, "b": b2}):
        assert power_loss_problems(ok, TIMELINE, completed=5, started=5) == [], ok
    assert power_loss_problems({}, TIMELINE, completed=5, started=5), "flushed 'a' vanished"
    mixed = OPS[3].record().__class__("a", a3.embedding, a1.content, a1.confidence)
    assert power_loss_problems({"a": mixed}, TIMELINE, completed=5, started=5), "mixed record"


# put a, flush, put_many(b, a, c, b again), remove_many(a, c)
BATCHES = Timeline([
    _put(0, "a", 1), Op(1, "flush"),
    Batch(2, "put_many", (_put(-1, "b", 2), _put(-1, "a", 3), _put(-1, "c", 4), _put(-1, "b", 5))),
    Batch(3, "remove_many", (Op(kind="remove", id="a"), Op(kind="remove", id="c"))),
])
A1, B2, A3, C4, B5 = (BATCHES.states[j][i] for j, i in ((1, "a"), (3, "b"), (4, "a"), (5, "c"),
                                                        (6, "b")))


def test_a_kill_inside_a_batch_keeps_the_completed_operations_and_any_prefix_of_its_records() -> None:
    for j in range(BATCHES.at(2), BATCHES.at(3) + 1):  # none, 1, 2, 3 or all 4 records
        state = BATCHES.states[j]
        assert kill_problems(state, BATCHES, 2, in_flight=True, strict=True) == [], j
    assert [dict(BATCHES.states[j]) for j in (2, 6)] == [{"a": A1}, {"a": A3, "b": B5, "c": C4}]


def test_a_kill_inside_a_batch_never_leaves_a_later_record_without_an_earlier_one() -> None:
    for skipped in ({"a": A1, "c": C4}, {"a": A1, "b": B5}, {"a": A3, "c": C4}):
        problems = kill_problems(skipped, BATCHES, 2, in_flight=True, strict=True)
        assert problems, f"a non-prefix of the put_many was accepted: {skipped}"
        assert "a prefix of the 4 records of the in-flight #2 put_many" in problems[0], problems
        assert "; closest is the first 2 operations" in problems[0] and problems[1:], problems
    removed_c_not_a = {"a": A3, "b": B5}
    assert kill_problems(removed_c_not_a, BATCHES, 3, in_flight=True, strict=True), \
        "remove_many(a, c) left c removed and a not"
    assert kill_problems({"b": B5, "c": C4}, BATCHES, 3, in_flight=True, strict=True) == []


def test_an_all_or_nothing_batch_keeps_the_prefix_promise_with_none_or_all_of_its_records() -> None:
    for promise in (True, False):
        for j in (BATCHES.at(2), BATCHES.at(3)):
            assert kill_problems(BATCHES.states[j], BATCHES, 2, True, strict=promise) == []


def test_a_completed_batch_is_whole_for_a_no_loss_store_and_a_record_prefix_for_the_contract() -> None:
    lost_last = BATCHES.states[5]  # the completed put_many without its last record
    assert kill_problems(lost_last, BATCHES, 3, in_flight=False, strict=True), \
        "a no-loss store lost a record of a completed batch"
    assert kill_problems(lost_last, BATCHES, 3, in_flight=False, strict=False) == []
    assert kill_problems({"a": A1, "c": C4}, BATCHES, 3, in_flight=False, strict=False), \
        "the contract's prefix promise accepted a non-prefix of a batch"


def test_power_loss_lets_each_id_of_a_batch_hold_its_durable_value_or_a_later_one() -> None:
    for ok in ({"a": A1, "c": C4}, {"a": A3, "b": B2}, {"a": A1, "b": B5, "c": C4}):
        assert power_loss_problems(ok, BATCHES, completed=2, started=3) == [], ok
    assert power_loss_problems({"b": B5}, BATCHES, completed=2, started=3), "durable 'a' lost"
    assert power_loss_problems({"b": B5}, BATCHES, completed=4, started=4) == []
    mixed = A1.__class__("b", B2.embedding, B5.content, B5.confidence)
    assert power_loss_problems({"a": A1, "b": mixed}, BATCHES, completed=2, started=3)


def test_a_fault_inside_a_batch_leaves_a_prefix_of_its_records_and_a_capacity_error_not_all() -> None:
    for j in range(BATCHES.at(2), BATCHES.at(3) + 1):
        assert effect_problems(BATCHES.states[j], BATCHES, 2) == [], j
    assert effect_problems({"a": A1, "c": C4}, BATCHES, 2), "a non-prefix after a fault"
    assert effect_problems(BATCHES.states[6], BATCHES, 2, changes_nothing=True), \
        "a put_many that raised CapacityError applied its failing record"
    assert effect_problems(BATCHES.states[5], BATCHES, 2, changes_nothing=True) == []
    assert effect_problems(BATCHES.states[5], BATCHES, 2, completed=True), "absorbed, not whole"


def test_the_oracle_log_tells_completed_from_in_flight(tmp_path: os.PathLike[str]) -> None:
    path = os.path.join(tmp_path, "oracle")
    with OracleWriter(path) as log:
        log.ready()
        for i in range(3):
            log.start(i)
            log.done(i)
        log.start(3)
    progress = read_oracle(path)
    assert (progress.completed, progress.in_flight, progress.started) == (3, 3, 4)


def test_a_replay_spelling_round_trips() -> None:
    for text in ("fp:put.before_publish:replace:2", "fp:put.after_publish:put_many:3", "hit:9", "op:0", "time:15", "end", "pl:7", "pl:7:40",
                 "fz:12", "raise:flush.after_retire:flush:2", "enospc:grow.slots.before_extend:put:1"):
        assert str(KillPoint.parse(text)) == text
    assert parse_replay("42:fp:a.b:put:1") == (42, KillPoint("fp", "a.b", "put", 1))
