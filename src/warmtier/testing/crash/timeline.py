"""A crash workload as the single calls it means: a batch is the loop of its records, so the
states a crash may leave are the model's states after a prefix of those records.

The oracle counts operations (a batch is one); the promises are about records. A
:class:`Timeline` maps one to the other: ``at(i)`` is the number of records of the first
``i`` operations, and the states and prefixes of :class:`~warmtier.testing.ops.States`
are taken over the records.

>>> from warmtier.testing.ops import Op
>>> from warmtier.testing.crash.batches import Batch
>>> puts = tuple(Op.put(i, [1.0], b"x") for i in "abc")
>>> t = Timeline([Op.on("flush", index=0), Batch(1, "put_many", puts)])
>>> t.at(1), t.at(2), t.kill_prefixes(1, True, strict=True)
(1, 4, [1, 2, 3, 4])
>>> t.describe_prefix(3)
'the first operation and the first 2 of the 3 records of #1 put_many'
"""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Sequence

from warmtier.records import Record
from warmtier.testing.crash.batches import Batch, Step
from warmtier.testing.ops import DURABLE, Op, State, States

__all__ = ["Timeline", "records_of"]


def records_of(step: Step) -> tuple[Op, ...]:
    """The single calls one operation means, in order (a batch's records; none for a read
    batch; the operation itself otherwise)."""
    return step.records() if isinstance(step, Batch) else (step,)


class Timeline:
    """The model's states over the records of ``steps`` (numbered ``0..``), from
    ``initial``; ``states[j]`` is the state after the first ``j`` records."""

    def __init__(self, steps: Sequence[Step], initial: State | None = None) -> None:
        self.steps = list(steps)
        self._starts = [0]
        records: list[Op] = []
        for step in self.steps:
            for op in records_of(step):  # numbered by position: States counts by index
                records.append(dataclasses.replace(op, index=len(records)))
            self._starts.append(len(records))
        self.states = States(records, initial)

    def at(self, steps: int) -> int:
        """How many records the first ``steps`` operations hold."""
        return self._starts[steps]

    def after(self, steps: int) -> State:
        """The state after the first ``steps`` operations, every record of each applied."""
        return self.states[self.at(steps)]

    def last_durable(self, completed: int) -> int:
        """How many operations the last completed flush or compaction among the first
        ``completed`` covers (0 when there was none)."""
        for i in range(completed - 1, -1, -1):
            if self.steps[i].kind in DURABLE:
                return i + 1
        return 0

    def kill_prefixes(self, completed: int, in_flight: bool, strict: bool) -> list[int]:
        """The record prefixes a process kill may recover after ``completed`` operations.

        ``strict`` (no completed operation lost): every record of the completed ones, plus
        any prefix of the in-flight one's records (a single call: all or nothing; a batch:
        each record all or nothing, in order). Otherwise any record prefix from the last
        completed durability point up to the last record started."""
        last = self.at(completed + int(in_flight))
        first = self.at(completed) if strict else self.at(self.last_durable(completed))
        return list(range(first, last + 1))

    def power_loss_values(self, completed: int,
                          started: int) -> tuple[State, dict[str, list[Record | None]]]:
        """The state as of the last durability point among the first ``completed``
        operations, and for each id written since (up to the ``started`` ones, a batch
        record by record) every value a power cut may leave it with."""
        durable = self.at(self.last_durable(completed))
        return self.states[durable], self.states.power_loss_values(durable, self.at(started))

    def describe_prefix(self, records: int) -> str:
        """A record prefix in the oracle's terms: whole operations, then part of a batch."""
        steps = bisect.bisect_right(self._starts, records) - 1
        whole = ("no operation" if steps == 0 else "the first operation" if steps == 1
                 else f"the first {steps} operations")
        extra = records - self.at(steps)
        if extra == 0:
            return whole
        step = self.steps[steps]
        count = self.at(steps + 1) - self.at(steps)
        return (f"{whole} and the first {extra} of the {count} records of "
                f"#{step.index} {step.kind}")
