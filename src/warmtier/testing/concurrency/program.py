"""Concurrent programs of :class:`~warmtier.testing.ops.Op` and their verdicts: the fixed
race probe (:class:`RaceProgram`) and drawn hot-id races over every call (:func:`hot_round`)."""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from warmtier.testing.concurrency.history import HistoryRecorder, RecordingStore, check_history
from warmtier.testing.concurrency.races import Role, tasks
from warmtier.testing.concurrency.witness import DIM, check_store, value, whole
from warmtier.testing.ops import PER_ID, Op

__all__ = [
    "DIM",
    "HOT_IDS",
    "WEIGHTS",
    "Op",
    "RaceProgram",
    "drawn_op",
    "history_problems",
    "hot_round",
    "hot_scripts",
    "hot_value",
    "perform",
]

SCRIPTS: tuple[tuple[Op, ...], ...] = (
    (Op.put("x", size=120), Op.put("n0", size=700), Op.on("len"), Op.on("get", "b"),
     Op.on("compact"), Op.on("get", "n1")),
    (Op.on("get", "a"), Op.put("n1", size=3000), Op.put("b", size=20), Op.on("len"),
     Op.on("get", "a"), Op.on("get", "x")),
    (Op.put("x", size=9), Op.put("a", size=5000), Op.on("compact"), Op.on("get", "n0"),
     Op.on("len"), Op.on("remove", "b")),
)
"""What each thread does, in order (a put's value is the witness value of its writer)."""


class RaceProgram:
    """One run of the race probe against ``store``; make a new one for each run.

    Three threads run :data:`SCRIPTS`, short scripts that make every classic race of a
    store possible: puts of the same new id (counting), of different new ids (slot and
    extent choice), replacing puts racing gets (publication order), compaction racing
    reads and writes (relocation), and ``len`` racing all of it. :meth:`verdict` checks
    the history for linearizability, every read for wholeness, ``len`` against
    ``ids()``, and ``check()``. The same program runs under barriers or the scheduler.

    >>> from warmtier.model import ModelStore
    >>> program = RaceProgram(ModelStore(dim=DIM))
    >>> for task in program.tasks():
    ...     task()
    >>> program.verdict() is None
    True
    """

    def __init__(self, store: Any, point: Callable[[str], None] | None = None) -> None:
        self.store = store
        self.recorder = HistoryRecorder()
        self.view = self.recorder.wrap(store)
        self.point = point
        self.problems: list[str] = []
        for seq, (id, size) in enumerate((("a", 300), ("b", 64))):
            Op.put(id, *value(id, 9, seq, size)).apply(self.view)

    def roles(self) -> list[Role]:
        """One thread per script of :data:`SCRIPTS`, for :func:`run_workload`."""
        return [Role.script(f"thread {t}", script, functools.partial(self._do, t), self.point)
                for t, script in enumerate(SCRIPTS)]

    def tasks(self) -> list[Callable[[], None]]:
        """The same threads as plain tasks (for the controlled scheduler)."""
        return tasks(self.roles())

    def _do(self, t: int, seq: int, op: Op) -> None:
        if op.kind == "put":
            op = op.with_value(*value(op.id, t, seq, op.size))
        got = op.apply(self.view)  # compact passes through the view unrecorded
        if op.kind == "get" and got is not None and (problem := whole(got, op.id)):
            self.problems.append(f"thread {t} get({op.id!r}): {problem}")

    def verdict(self) -> str | None:
        """``None`` if the run was correct, else what went wrong (expected and actual)."""
        problems = [*self.problems, *self._read_back(),
                    *history_problems(self.recorder, self.store, "after the run")]
        return "\n".join(problems) if problems else None

    def _read_back(self) -> list[str]:
        """``len`` against ``ids()``, and every listed record whole."""
        problems = []
        ids = self.store.ids()
        if len(self.store) != len(ids):
            problems.append(f"len() is {len(self.store)} but ids() lists {len(ids)} ids")
        for id in ids:
            got = self.store.get(id)
            if got is None:
                problems.append(f"{id!r} is in ids() but get() returns None")
            elif problem := whole(got, id):
                problems.append(f"after the run: {problem}")
        return problems


# -- hot ids: every call, few ids ------------------------------------------------------

#: The ids hot-id programs use: two, so that most calls of a round meet on one id.
HOT_IDS: tuple[str, ...] = ("a", "b")

#: Every call of the contract, with its weight in drawn programs (mutations first).
WEIGHTS: dict[str, int] = {
    "put": 6, "remove": 6, "get": 3, "contains": 1, "search": 3, "scan": 1, "len": 1,
    "ids": 1, "compact": 1, "flush": 1,
}

#: Directions of different norms (and a zero vector): a replace changes scores and norms.
_DIRECTIONS = np.array(
    [[1, 0, 0, 0, 0, 0, 0, 0], [3, 4, 0, 0, 0, 0, 0, 0], [0, -2, 1, 0, 0, 0, 0, 0.5],
     [-1, 1, -1, 1, -1, 1, -1, 1], [0, 0, 0, 0, 0, 0, 0, 0], [5, 0, 0, -5, 0, 0, 0, 0],
     [0.25, 0.5, 0, 0, 0, 0, 0, 0]], dtype=np.float32,
)
#: Queries searches draw from (with k = 1, 2 or 3).
QUERIES = np.array(
    [[1, 0, 0, 0, 0, 0, 0, 0], [0, 1, 0, 0, 0, 0, 0, 0], [1, 1, 1, 1, 1, 1, 1, 1],
     [-1, 0, 1, 0, 0, 0, 0, 0]], dtype=np.float32,
)


def drawn_op(kind: str, id: str = "", size: int = 0, pick: int = 0) -> Op:
    """The operation a program draws: ``id`` for the per-id calls, ``size`` of a put's
    content (its value is chosen when it runs), ``pick`` for a search's query and k and
    a scan's batch size.

    >>> drawn_op("search", pick=5)
    search(q=[0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], k=3)
    """
    if kind == "put":
        return Op.put(id, size=size)
    if kind == "search":
        return Op.search(QUERIES[pick % len(QUERIES)], 1 + pick % 3)
    if kind == "scan":
        return Op.scan(1 + pick % 2)
    return Op.on(kind, id)


def hot_value(id: str, writer: int, seq: int, size: int) -> tuple[Any, bytes, float]:
    """(embedding, content, confidence) of a put: witness content (self-describing), an
    embedding from a few directions of different norms, so that a search can tell
    values apart."""
    _, content, confidence = value(id, writer, seq, size)
    embedding = _DIRECTIONS[(writer * 3 + seq) % len(_DIRECTIONS)].copy()
    return embedding, content, confidence


def perform(view: RecordingStore, thread: int, seq: int, op: Op) -> None:
    """Do ``op`` through ``view``, a put writing ``hot_value(id, thread, seq, size)``
    (compact and flush pass through unrecorded: they change no record, which the
    recorded calls around them verify)."""
    if op.kind == "put":
        op = op.with_value(*hot_value(op.id, thread, seq, op.size))
    op.apply(view)


def hot_scripts(seed: int, threads: int = 3, length: int = 8,
                ids: Sequence[str] = HOT_IDS) -> list[list[Op]]:
    """A random program from ``seed``: ``threads`` scripts of ``length`` calls drawn from
    :data:`WEIGHTS`, on ``ids``.

    >>> hot_scripts(1, threads=2, length=3)
    [[put('a', 40 B), remove('b'), contains('a')], [remove('b'), get('a'), remove('a')]]
    """
    rng = random.Random(seed)
    kinds, weights = list(WEIGHTS), list(WEIGHTS.values())

    def draw() -> Op:
        kind = rng.choices(kinds, weights)[0]
        return drawn_op(kind, rng.choice(ids) if kind in PER_ID else "",
                        rng.choice((0, 40, 300)) if kind == "put" else 0, rng.randrange(12))

    return [[draw() for _ in range(length)] for _ in range(threads)]


def hot_round(
    store: Any,
    scripts: Sequence[Sequence[Op]],
    run: Callable[[list[Callable[[], None]]], Any],
    point: Callable[[str], None] | None = None,
) -> str | None:
    """Run ``scripts`` (one thread each) through ``run`` (say ``run_race`` or a
    scheduler's ``run``) on ``store`` after removing the ids they use (unrecorded, so the
    history starts from no record); ``None`` if the outcome is correct, else why not.

    Hot-id scripts race every call of the contract on two ids (removes race removes and
    puts of one id, searches race replaces): the races a store without failpoints can
    only show running free.

    >>> from warmtier.model import ModelStore
    >>> hot_round(ModelStore(dim=DIM), hot_scripts(7), lambda tasks: [t() for t in tasks])
    """
    for id in {op.id for script in scripts for op in script if op.id}:
        store.remove(id)
    for id in store.ids():
        store.remove(id)
    recorder = HistoryRecorder()
    view = recorder.wrap(store)

    run(tasks([Role.script(f"thread {t}", script, functools.partial(perform, view, t), point)
               for t, script in enumerate(scripts)]))
    problems = history_problems(recorder, store, "after the round")
    return "\n".join(problems) if problems else None


def history_problems(recorder: HistoryRecorder, store: Any, when: str = "") -> list[str]:
    """What the recorded history and ``check()`` find wrong with a concurrent run of
    ``store`` (empty when nothing): the history checker's message, a failed check."""
    problems = []
    result = check_history(recorder.history(), recorder.model())
    if result.ok is not True:
        problems.append(result.message)
    try:
        check_store(store)
    except Exception as exc:
        problems.append(f"check() failed{' ' + when if when else ''}: {exc!r}")
    return problems
