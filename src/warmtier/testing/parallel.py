"""Concurrent stateful testing: a sequential prefix, then parallel branches, linearizable.

Hypothesis draws a short sequential prefix of contract operations and two or three
branches; the branches run on threads under the controlled scheduler (its strategy and
seed are drawn too, so every example is deterministic and Hypothesis can shrink it), and
the recorded history must be linearizable, every read whole, and ``check()`` must pass.

>>> from warmtier.model import ModelStore
>>> prop = concurrent_property(lambda: ModelStore(dim=DIM), max_examples=3)
>>> prop()  # passes: the model is linearizable
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from warmtier.testing.history import HistoryRecorder, StoreModel
from warmtier.testing.linearizability import check
from warmtier.testing.scheduler import Scheduler, make_strategy
from warmtier.testing.witness import DIM, check_store, value, whole

__all__ = ["DIM", "Op", "ParallelCase", "concurrent_property", "operations", "parallel_cases"]

IDS = ("a", "b", "c")
SIZES = (0, 11, 300, 5000)


@dataclass(frozen=True)
class Op:
    """One drawn operation: ``put``/``get``/``remove``/``contains``/``len``/``ids``/``compact``."""

    kind: str
    id: str = ""
    size: int = 0

    def __repr__(self) -> str:
        if self.kind == "put":
            return f"put({self.id!r}, {self.size} B)"
        return f"{self.kind}({self.id!r})" if self.id else f"{self.kind}()"


def operations() -> st.SearchStrategy[Op]:
    """Contract operations on three ids, puts of 0 B to 5000 B (``put('a', 300 B)``)."""
    keyed = st.sampled_from(IDS)
    return st.one_of(
        st.builds(Op, st.just("put"), keyed, st.sampled_from(SIZES)),
        st.builds(Op, st.just("get"), keyed),
        st.builds(Op, st.just("remove"), keyed),
        st.builds(Op, st.just("contains"), keyed),
        st.builds(Op, st.sampled_from(["len", "ids", "compact"])),
    )


@dataclass(frozen=True)
class ParallelCase:
    """A drawn test case: prefix, branches, and the schedule that runs the branches."""

    prefix: tuple[Op, ...]
    branches: tuple[tuple[Op, ...], ...]
    strategy: str
    seed: int


def parallel_cases() -> st.SearchStrategy[ParallelCase]:
    """Prefix of 0-4 ops, 2-3 branches of 1-4 ops, a strategy and a seed."""
    branch = st.lists(operations(), min_size=1, max_size=4).map(tuple)
    return st.builds(
        ParallelCase,
        st.lists(operations(), max_size=4).map(tuple),
        st.lists(branch, min_size=2, max_size=3).map(tuple),
        st.sampled_from(["random", "pct"]),
        st.integers(0, 2**32 - 1),
    )


def run_case(store: Any, case: ParallelCase, timeout: float = 30.0) -> str | None:
    """Run one case; ``None`` if the outcome is correct, else what went wrong."""
    recorder = HistoryRecorder()
    view = recorder.wrap(store)
    problems: list[str] = []
    counter = [0]

    def do(thread: int, op: Op) -> None:
        counter[0] += 1
        if op.kind == "put":
            emb, content, conf = value(op.id, thread, counter[0], op.size)
            view.put(op.id, emb, content, conf)
        elif op.kind == "get":
            got = view.get(op.id)
            if got is not None and (problem := whole(got, op.id)):
                problems.append(f"thread {thread} {op!r}: {problem}")
        elif op.kind == "remove":
            view.remove(op.id)
        elif op.kind == "contains":
            _ = op.id in view
        elif op.kind == "len":
            len(view)
        elif op.kind == "ids":
            view.ids()
        else:
            store.compact()

    for op in case.prefix:
        do(99, op)
    options: dict[str, Any] = {"depth": 3, "max_steps": 40} if case.strategy == "pct" else {}
    sched = Scheduler(make_strategy(case.strategy, case.seed, **options), timeout=timeout)

    def branch(t: int, ops: tuple[Op, ...]) -> Callable[[], None]:
        def body() -> None:
            for i, op in enumerate(ops):
                if i:
                    sched.point("between ops")
                do(t, op)

        return body

    sched.run([branch(t, ops) for t, ops in enumerate(case.branches)])
    result = check(recorder.history(), StoreModel())
    if result.ok is not True:
        problems.append(result.message)
    try:
        check_store(store)
    except Exception as exc:
        problems.append(f"check() failed: {exc!r}")
    return "\n".join(problems) if problems else None


def concurrent_property(
    make_store: Callable[[], Any],
    *,
    max_examples: int = 25,
    timeout: float = 30.0,
    observe: Callable[[str | None], None] | None = None,
) -> Callable[[], None]:
    """A Hypothesis test (call it with no arguments) of stores made by ``make_store``.

    Each example uses a fresh store, closed afterwards. A failure is shrunk by
    Hypothesis, which prints the minimal case (with its strategy and seed).
    ``observe`` is told each example's verdict (to count runs until a failure).
    """

    @settings(
        max_examples=max_examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(case=parallel_cases())
    def prop(case: ParallelCase) -> None:
        store = make_store()
        try:
            problem = run_case(store, case, timeout)
            if observe is not None:
                observe(problem)
        finally:
            with contextlib.suppress(Exception):
                store.close()
        assert problem is None, (
            f"expected the parallel branches to be linearizable with whole records; got:\n"
            f"{problem}\n(the scheduler replays this case exactly: {case.strategy} seed "
            f"{case.seed})"
        )

    return prop
