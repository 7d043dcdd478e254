"""The crash promises as checks: a recovered state against the states a crash may leave
(:class:`~warmtier.testing.ops.States`); each check lists problems, empty when the promise holds."""

from __future__ import annotations

from typing import Any

from warmtier.records import Record
from warmtier.testing.ops import State, States

__all__ = [
    "diff_states",
    "kill_problems",
    "power_loss_problems",
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


def kill_problems(actual: State, states: States, completed: int, in_flight: bool,
                  strict: bool) -> list[str]:
    """The process-kill promise.

    ``strict`` (the reference store): the state after every completed operation, with the
    in-flight one applied whole or not at all. Otherwise (any store): the state after some
    prefix that covers the last completed flush or compaction.
    """
    candidates = states.kill_prefixes(completed, in_flight, strict)
    for j in candidates:
        if actual == states[j]:
            return []
    best = min(candidates, key=lambda j: len(diff_states(states[j], actual, limit=10**9)))
    if strict:
        what = (f"the state after the {completed} completed operations"
                + (" (with or without the in-flight one)" if in_flight else ""))
    else:
        what = (f"the state after any prefix of {candidates[0]}..{candidates[-1]} operations "
                "(the last completed flush/compaction covers the first "
                f"{candidates[0]})")
    return [f"recovered state is not {what}; closest is the prefix of {best}:",
            *diff_states(states[best], actual)]


def power_loss_problems(actual: State, states: States, completed: int, started: int) -> list[str]:
    """The power-loss promise: every id holds its value as of the last durability point
    among the ``completed`` operations, or the value of a later put or remove of it (up to
    the ``started`` ones); never a torn or mixed record."""
    durable = states.last_durable(completed)
    base = states[durable]
    allowed = states.power_loss_values(durable, started)
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
