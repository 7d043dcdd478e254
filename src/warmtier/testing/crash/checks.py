"""The crash promises as checks: a recovered state against the states a crash may leave
(:class:`~warmtier.testing.crash.timeline.Timeline`: a batch is the loop of its records);
each check lists problems, empty when the promise holds."""

from __future__ import annotations

from typing import Any

from warmtier.records import Record
from warmtier.testing.crash.batches import Batch, Step
from warmtier.testing.crash.timeline import Timeline
from warmtier.testing.ops import State

__all__ = [
    "answer_problems",
    "diff_states",
    "kill_problems",
    "power_loss_problems",
    "prefix_problems",
    "run_check",
]


def _show(rec: Record | None) -> str:
    return "absent" if rec is None else repr(rec)


def diff_states(expected: State, actual: State, limit: int = 6) -> list[str]:
    """The ids whose records differ, as ``id: expected X, got Y`` lines."""
    out = []
    for ident in sorted(set(expected) | set(actual)):
        e, a = expected.get(ident), actual.get(ident)
        if e is None or a is None or e != a:
            out.append(f"{ident!r}: expected {_show(e)}, got {_show(a)}")
    if len(out) > limit:
        out = [*out[:limit], f"... and {len(out) - limit} more"]
    return out


def run_check(store: Any) -> list[str]:
    """``store.check()`` if the store has one (the contract makes it optional)."""
    check = getattr(store, "check", None)
    if check is None:
        return []
    try:
        check()
    except NotImplementedError:
        return []
    except Exception as exc:
        violations = [str(v) for v in getattr(exc, "violations", [])][:5]
        detail = f" [{'; '.join(violations)}]" if len(violations) > 1 else ""
        return [f"check() failed: {type(exc).__name__}: {exc}{detail}"]
    return []


def kill_problems(actual: State, timeline: Timeline, completed: int, in_flight: bool,
                  strict: bool) -> list[str]:
    """The process-kill promise, over records (a batch is the loop of its records).

    ``strict`` (a store declaring ``no-loss``): the state after every completed operation,
    with a prefix of the in-flight one's records (a single call: whole or not at all; a
    batch: every record before the one in flight, that one whole or not at all).
    Otherwise (the contract): the state after some record prefix that covers the last
    completed flush or compaction.
    """
    candidates = timeline.kill_prefixes(completed, in_flight, strict)
    promised = _promised(timeline, completed, in_flight, strict)
    return prefix_problems(actual, timeline, candidates, f"recovered state is not {promised}")


def prefix_problems(actual: State, timeline: Timeline, candidates: list[int],
                    headline: str) -> list[str]:
    """None when ``actual`` is the state after one of the record prefixes ``candidates``;
    else ``headline``, the closest of them and how ``actual`` differs from it."""
    for j in candidates:
        if actual == timeline.states[j]:
            return []
    best = min(candidates,
               key=lambda j: len(diff_states(timeline.states[j], actual, limit=10**9)))
    return [f"{headline}; closest is {timeline.describe_prefix(best)}:",
            *diff_states(timeline.states[best], actual)]


def _promised(timeline: Timeline, completed: int, in_flight: bool, strict: bool) -> str:
    """What :func:`kill_problems` accepted, in words."""
    step = timeline.steps[completed] if in_flight else None
    if isinstance(step, Batch) and step.records():
        flight = (f" plus a prefix of the {len(step.records())} records of the in-flight "
                  f"#{step.index} {step.kind} (records in order, each whole or not at all)")
    else:
        flight = " (with or without the in-flight one)" if in_flight else ""
    if strict:
        return f"the state after the {completed} completed operations{flight}"
    durable, last = timeline.last_durable(completed), completed + int(in_flight) - 1
    return (f"the state after the first {durable} operations (the last completed "
            "flush/compaction covers them)" + (
                f" plus any prefix of the records of operations #{durable}..#{last} (a "
                "batch counts record by record)" if last >= durable else ""))


def power_loss_problems(actual: State, timeline: Timeline, completed: int,
                        started: int) -> list[str]:
    """The power-loss promise: every id holds its value as of the last durability point
    among the ``completed`` operations, or the value of a later put or remove of it (up to
    the ``started`` ones; a batch's records count as that loop of puts or removes); never
    a torn or mixed record."""
    base, allowed = timeline.power_loss_values(completed, started)
    problems = []
    for ident in sorted(set(base) | set(actual) | set(allowed)):
        got = actual.get(ident)
        options = allowed.get(ident, [base.get(ident)])
        if not any(got == o if (got is not None and o is not None) else got is o
                   for o in options):
            shown = ", ".join(_show(o) for o in options[:4])
            problems.append(f"{ident!r}: got {_show(got)}; allowed: {shown}"
                            + (f" and {len(options) - 4} more" if len(options) > 4 else ""))
    if len(problems) > 6:
        problems = [*problems[:6], f"... and {len(problems) - 6} more"]
    return problems


def answer_problems(step: Step, answer: Any, state: State) -> list[str]:
    """A read batch's answer against ``state``, the model's before it (``get_many``: the
    record of each id, or None); other operations have no answer to check here."""
    if not isinstance(step, Batch) or step.kind != "get_many":
        return []
    expected = [state.get(op.id) for op in step.parts]
    if isinstance(answer, list) and len(answer) == len(expected) and all(
            g is e if g is None or e is None else e == g
            for g, e in zip(answer, expected, strict=True)):
        return []
    return [f"{step.describe()} answered wrong:", f"  expected: {expected!r}",
            f"  actual:   {answer!r}"]
