"""Concurrent stateful testing: a drawn sequential prefix, then parallel branches of
:class:`~warmtier.testing.ops.Op` under the controlled scheduler, judged linearizable."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from warmtier.testing.concurrency.history import HistoryRecorder
from warmtier.testing.concurrency.program import WEIGHTS, drawn_op, history_problems, perform
from warmtier.testing.concurrency.scheduler import Scheduler, make_strategy
from warmtier.testing.concurrency.witness import DIM
from warmtier.testing.ops import PER_ID, Op

__all__ = ["DIM", "Op", "ParallelCase", "concurrent_property", "operations", "parallel_cases"]

#: Few ids, so that branches meet: remove races remove and put of one id.
IDS = ("a", "b", "c")
SIZES = (0, 11, 300, 5000)


def operations() -> st.SearchStrategy[Op]:
    """Every call of the contract (put, remove, compact, flush, get, ``in``, len, ids,
    search, scan), the per-id ones on three ids, ``'a'`` most often; puts of 0 B to
    5000 B. Samples: ``put('a', 300 B)``, ``remove('a')``, ``scan(batch_size=1)``,
    ``flush()``."""
    keyed = st.sampled_from(("a", *IDS))
    picks = st.integers(0, 11)
    per_id = ("get", "remove", "contains")
    return st.one_of(
        st.builds(drawn_op, st.just("put"), keyed, st.sampled_from(SIZES), picks),
        st.builds(drawn_op, st.sampled_from(per_id), keyed),
        st.builds(drawn_op, st.just("remove"), keyed),
        st.builds(drawn_op, st.sampled_from([k for k in WEIGHTS if k not in PER_ID]),
                  st.just(""), st.just(0), picks),
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
    counter = itertools.count()
    for op in case.prefix:
        perform(view, 99, next(counter), op)
    options: dict[str, Any] = {"depth": 3, "max_steps": 40} if case.strategy == "pct" else {}
    sched = Scheduler(make_strategy(case.strategy, case.seed, **options), timeout=timeout)

    def branch(t: int, ops: tuple[Op, ...]) -> Callable[[], None]:
        def body() -> None:
            for i, op in enumerate(ops):
                if i:
                    sched.point("between ops")
                perform(view, t, next(counter), op)

        return body

    sched.run([branch(t, ops) for t, ops in enumerate(case.branches)])
    problems = history_problems(recorder, store)
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

    >>> from warmtier.model import ModelStore
    >>> prop = concurrent_property(lambda: ModelStore(dim=DIM), max_examples=3)
    >>> prop()  # passes: the model is linearizable
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
