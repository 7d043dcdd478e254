"""Linearizability checking of concurrent histories (Wing-Gong search with Lowe's cache,
partitioned as porcupine does): a verdict ok, illegal or unknown, and a minimal counterexample."""

from __future__ import annotations

import enum
import time
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from warmtier.testing import exercised

__all__ = [
    "CheckResult",
    "Model",
    "Operation",
    "PartResult",
    "RegisterModel",
    "Verdict",
    "check",
    "check_part",
    "format_history",
    "minimal_counterexample",
]

INFINITY = float("inf")

S = TypeVar("S", bound=Hashable)


@dataclass(frozen=True)
class Operation:
    """One completed (or pending) operation of a history.

    ``call`` and ``ret`` are invoke and return times on one clock (any comparable
    numbers). ``ret=None`` marks an operation that never returned (it raised, or the
    thread was stopped): it may have taken effect at any time after its call, or never.
    ``key`` is the partition the model assigns, filled in by :func:`check`.
    """

    client: int
    kind: str
    args: tuple[Any, ...]
    result: Any
    call: float
    ret: float | None
    label: str = ""

    @property
    def pending(self) -> bool:
        return self.ret is None

    @property
    def end(self) -> float:
        return INFINITY if self.ret is None else self.ret

    def describe(self) -> str:
        if self.label:
            return self.label
        args = ", ".join(repr(a) for a in self.args)
        result = "<no return>" if self.ret is None else repr(self.result)
        return f"{self.kind}({args}) -> {result}"


class Model(Protocol[S]):
    """The sequential specification the checker searches against.

    ``step(state, op)`` returns the next state if ``op``, applied to ``state``, could
    have returned ``op.result`` (for a pending op: whatever it returned), else ``None``.
    States must be hashable and compare by value (they key Lowe's cache).
    ``partition`` splits a history into independent parts (one per key); return the
    whole history as one part when operations span keys.
    ``unexplained`` lists the operations whose observation no operation of the history
    accounts for (for a store: a read of a value nobody wrote); the shrinker keeps only
    sub-histories that add none, so a minimal counterexample shows the writes a wrong
    read contradicts, not the read alone.
    """

    def init(self) -> S: ...

    def step(self, state: S, op: Operation) -> S | None: ...

    def partition(self, history: Sequence[Operation]) -> list[list[Operation]]: ...

    def unexplained(self, history: Sequence[Operation]) -> list[Operation]: ...

    def describe_state(self, state: S) -> str: ...


class RegisterModel:
    """A map of registers: ``write(key, value)``, ``read(key) -> value`` (``None`` unset).

    The model the checker's own tests and doctests use; partitioned per key.
    """

    def init(self) -> Any:
        return ()  # not None: step() returns None for "impossible"

    def step(self, state: Any, op: Operation) -> Any:
        if op.kind == "write":
            return ("v", op.args[1])
        if op.kind == "read":
            current = state[1] if state else None
            if op.pending or op.result == current:
                return state
            return None
        raise ValueError(f"RegisterModel knows write and read, not {op.kind!r}")

    def partition(self, history: Sequence[Operation]) -> list[list[Operation]]:
        parts: dict[Any, list[Operation]] = {}
        for op in history:
            parts.setdefault(op.args[0], []).append(op)
        return list(parts.values())

    def unexplained(self, history: Sequence[Operation]) -> list[Operation]:
        written = {op.args[1] for op in history if op.kind == "write"}
        return [
            op
            for op in history
            if op.kind == "read" and not op.pending and op.result is not None
            and op.result not in written
        ]

    def describe_state(self, state: Any) -> str:
        return repr(state[1]) if state else "unset"


class Verdict(enum.Enum):
    """What the checker decided (porcupine's CheckResult): a linearization exists, none
    does, or the search ran out of steps or time before it could tell."""

    OK = "ok"
    ILLEGAL = "illegal"
    UNKNOWN = "unknown"

    @classmethod
    def of(cls, ok: bool | None) -> Verdict:
        return cls.UNKNOWN if ok is None else cls.OK if ok else cls.ILLEGAL


@dataclass
class PartResult:
    """The verdict on one partition: ``ok`` is ``None`` when the search hit its budget."""

    ops: list[Operation]
    ok: bool | None
    steps: int
    linearization: list[Operation] = field(default_factory=list)

    @property
    def verdict(self) -> Verdict:
        return Verdict.of(self.ok)


@dataclass
class CheckResult:
    """The verdict on a whole history, with the minimal failing sub-history if any:
    ``verdict`` ok, illegal or unknown (``ok`` True, False or None)."""

    ok: bool | None
    parts: list[PartResult]
    seconds: float
    counterexample: list[Operation] = field(default_factory=list)
    message: str = ""

    @property
    def verdict(self) -> Verdict:
        return Verdict.of(self.ok)

    def __bool__(self) -> bool:
        return self.ok is True


class _Entry:
    """A node of the doubly linked list of call and return events (Porcupine's layout)."""

    __slots__ = ("is_call", "match", "next", "op", "opid", "prev")

    def __init__(self, is_call: bool, op: Operation | None, opid: int) -> None:
        self.is_call = is_call
        self.op = op
        self.opid = opid
        self.match: _Entry | None = None
        self.prev: _Entry | None = None
        self.next: _Entry | None = None


def _build_list(ops: Sequence[Operation]) -> _Entry:
    events: list[tuple[float, int, int, _Entry]] = []
    for i, op in enumerate(ops):
        call = _Entry(True, op, i)
        ret = _Entry(False, op, i)
        call.match = ret
        # On equal times calls sort first: equal stamps count as overlapping.
        events.append((op.call, 0, i, call))
        events.append((op.end, 1, i, ret))
    events.sort(key=lambda e: (e[0], e[1], e[2]))
    head = _Entry(False, None, -1)
    prev = head
    for _, _, _, entry in events:
        prev.next = entry
        entry.prev = prev
        prev = entry
    return head


def _lift(entry: _Entry) -> None:
    assert entry.prev is not None and entry.match is not None
    entry.prev.next = entry.next
    if entry.next is not None:
        entry.next.prev = entry.prev
    match = entry.match
    assert match.prev is not None
    match.prev.next = match.next
    if match.next is not None:
        match.next.prev = match.prev


def _unlift(entry: _Entry) -> None:
    match = entry.match
    assert match is not None and match.prev is not None and entry.prev is not None
    match.prev.next = match
    if match.next is not None:
        match.next.prev = match
    entry.prev.next = entry
    if entry.next is not None:
        entry.next.prev = entry


def check_part(
    ops: Sequence[Operation], model: Model[Any], *, max_steps: int | None = None,
    deadline: float | None = None,
) -> PartResult:
    """Search one partition for a linearization (Wing-Gong with Lowe's state cache);
    unknown (``ok`` None) past ``max_steps`` or the ``time.monotonic()`` ``deadline``.

    Pending operations (``ret is None``) may be linearized anywhere after their call or
    left out. Worst case exponential; the cache of (linearized set, state) pairs keeps
    the usual per-key histories of a few concurrent threads near linear.
    """
    ops = list(ops)
    head = _build_list(ops)
    state: Any = model.init()
    linearized = 0
    cache: set[tuple[int, Any]] = set()
    calls: list[tuple[_Entry, Any]] = []
    entry = head.next
    steps = 0
    while head.next is not None:
        steps += 1
        if (max_steps is not None and steps > max_steps) or (
                deadline is not None and steps % 1024 == 0 and time.monotonic() > deadline):
            return PartResult(ops, None, steps)
        assert entry is not None
        op = entry.op
        assert op is not None
        if entry.is_call:
            new_state = model.step(state, op)
            if new_state is not None:
                new_linearized = linearized | (1 << entry.opid)
                key = (new_linearized, new_state)
                if key not in cache:
                    cache.add(key)
                    calls.append((entry, state))
                    state = new_state
                    linearized = new_linearized
                    _lift(entry)
                    entry = head.next
                    continue
            entry = entry.next
        else:
            if op.pending:
                # Every return still listed belongs to a pending op: all completed ops
                # are linearized, and the pending rest may never have taken effect.
                break
            if not calls:
                return PartResult(ops, False, steps)
            entry, state = calls.pop()
            linearized &= ~(1 << entry.opid)
            _unlift(entry)
            entry = entry.next
    order = [e.op for e, _ in calls if e.op is not None]
    return PartResult(ops, True, steps, order)


def minimal_counterexample(
    ops: Sequence[Operation], model: Model[Any], *, max_steps: int | None = 200_000
) -> list[Operation]:
    """Shrink a non-linearizable history to a 1-minimal one: removing any single
    operation makes it linearizable or leaves some observation unexplained that was
    explained before (see :meth:`Model.unexplained`).

    Tries removing halves, then quarters, and so on (delta debugging), then single ops.
    """
    current = list(ops)
    allowed = {id(op) for op in model.unexplained(current)}

    def fails(candidate: list[Operation]) -> bool:
        if not candidate:
            return False
        if any(id(op) not in allowed for op in model.unexplained(candidate)):
            return False
        return check_part(candidate, model, max_steps=max_steps).ok is False

    chunk = max(1, len(current) // 2)
    while True:
        removed = False
        i = 0
        while i < len(current):
            candidate = current[:i] + current[i + chunk :]
            if fails(candidate):
                current = candidate
                removed = True
            else:
                i += chunk
        if chunk == 1 and not removed:
            break
        chunk = max(1, chunk // 2)
    return current


def format_history(ops: Iterable[Operation]) -> str:
    """The operations in invoke order, one line each: thread, [call, return], what."""
    ordered = sorted(ops, key=lambda o: (o.call, o.end))
    if not ordered:
        return "  (empty)"
    origin = ordered[0].call
    lines = []
    for op in ordered:
        end = "..." if op.ret is None else f"{op.ret - origin:g}"
        lines.append(f"  thread {op.client:>3}  [{op.call - origin:g}, {end}]  {op.describe()}")
    return "\n".join(lines)


def check(
    history: Sequence[Operation],
    model: Model[Any],
    *,
    max_steps_per_part: int | None = None,
    timeout: float | None = None,
    shrink: bool = True,
) -> CheckResult:
    """Check a whole history: partition, search each part, shrink the first failure.

    ``ok`` is ``True`` (linearizable), ``False`` (not; ``counterexample`` and
    ``message`` say why) or ``None`` (unknown: some part exceeded
    ``max_steps_per_part``, or the search ran past ``timeout`` seconds).

    >>> ops = [
    ...     Operation(0, "write", ("x", 1), None, call=0, ret=3),
    ...     Operation(1, "read", ("x",), 1, call=1, ret=2),   # overlaps the write: fine
    ...     Operation(1, "read", ("x",), None, call=4, ret=5),  # after the write: must see 1
    ... ]
    >>> check(ops, RegisterModel()).verdict
    <Verdict.ILLEGAL: 'illegal'>
    """
    start = time.perf_counter()
    exercised.sample("operations per history", len(history))
    deadline = None if timeout is None else time.monotonic() + timeout
    results: list[PartResult] = []
    verdict: bool | None = True
    counterexample: list[Operation] = []
    message = ""
    for part in model.partition(history):
        result = check_part(part, model, max_steps=max_steps_per_part, deadline=deadline)
        results.append(result)
        if result.ok is False:
            verdict = False
            counterexample = minimal_counterexample(part, model) if shrink else list(part)
            if not counterexample:
                counterexample = list(part)
            message = (
                f"history of {len(history)} operations is not linearizable; a minimal "
                f"non-linearizable sub-history ({len(counterexample)} of the "
                f"{len(part)} operations of its partition):\n{format_history(counterexample)}"
            )
            break
        if result.ok is None and verdict is True:
            verdict = None
            message = f"unknown: search budget exceeded on a part of {len(part)} operations"
    return CheckResult(verdict, results, time.perf_counter() - start, counterexample, message)
