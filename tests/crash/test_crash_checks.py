"""The crash promises as checks: the reference promise (every completed operation, the
in-flight one all or nothing), the any-store promise (a prefix covering the last flush),
the power-loss promise (durable value or a later one per id), and the oracle log."""

from __future__ import annotations

import os

from warmtier.testing.crash.checks import kill_problems, power_loss_problems
from warmtier.testing.crash.oracle import OracleWriter, read_oracle
from warmtier.testing.crash.points import KillPoint, parse_replay
from warmtier.testing.crash.workload import DIM, Op, States


def _put(i: int, ident: str, byte: int) -> Op:
    return Op(i, "put", ident, (float(byte),) * DIM, bytes([byte]) * 3, byte / 10)


# put a, flush, put b, replace a, remove b
OPS = [_put(0, "a", 1), Op(1, "flush"), _put(2, "b", 2), _put(3, "a", 3), Op(4, "remove", "b")]
STATES = States(OPS)


def test_the_reference_promise_takes_every_completed_operation_and_the_in_flight_one_whole() -> None:
    assert kill_problems(STATES[4], STATES, 4, in_flight=False, strict=True) == []
    assert kill_problems(STATES[4], STATES, 4, in_flight=True, strict=True) == []
    assert kill_problems(STATES[5], STATES, 4, in_flight=True, strict=True) == []
    lost = kill_problems(STATES[3], STATES, 4, in_flight=True, strict=True)
    assert lost and "'a'" in "\n".join(lost), lost


def test_the_any_store_promise_takes_a_prefix_that_covers_the_last_flush() -> None:
    assert kill_problems(STATES[2], STATES, 4, in_flight=False, strict=False) == []
    assert kill_problems(STATES[3], STATES, 4, in_flight=False, strict=False) == []
    before_flush = kill_problems(STATES[0], STATES, 4, in_flight=False, strict=False)
    assert before_flush, "a state from before the last completed flush was accepted"


def test_power_loss_allows_the_durable_value_or_a_later_one_per_id_and_nothing_else() -> None:
    a1, a3, b2 = STATES[1]["a"], STATES[4]["a"], STATES[3]["b"]
    for ok in ({"a": a1}, {"a": a3}, {"a": a1, "b": b2}, {"a": a3, "b": b2}):
        assert power_loss_problems(ok, STATES, completed=5, started=5) == [], ok
    assert power_loss_problems({}, STATES, completed=5, started=5), "flushed 'a' vanished"
    mixed = OPS[3].record().__class__("a", a3.embedding, a1.content, a1.confidence)
    assert power_loss_problems({"a": mixed}, STATES, completed=5, started=5), "mixed record"


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
    for text in ("fp:put.before_publish:replace:2", "hit:9", "op:0", "time:15", "end", "pl:7", "pl:7:40",
                 "fz:12", "raise:flush.after_retire:flush:2", "enospc:grow.slots.before_extend:put:1"):
        assert str(KillPoint.parse(text)) == text
    assert parse_replay("42:fp:a.b:put:1") == (42, KillPoint("fp", "a.b", "put", 1))
