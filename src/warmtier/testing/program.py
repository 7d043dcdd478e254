"""Concurrent programs over the contract, and their verdicts: the race probe and hot-id races.

:class:`RaceProgram` is a small fixed program: three threads run short scripts that make
every classic race of a store possible: puts of the same new id (counting), puts of
different new ids (slot and extent choice), replacing puts racing gets (publication
order), compaction racing reads and writes (relocation), and ``len`` racing all of it.
:meth:`RaceProgram.verdict` checks the recorded history for linearizability, every read
for wholeness, ``len`` against ``ids()``, and ``check()``. The same program runs under
barriers or the scheduler.

:func:`hot_scripts` draws programs over EVERY call of the contract (put, remove,
compact, flush, get, ``in``, len, ids, search, scan) on two ids, so that removes race
removes and puts of one id, searches race replaces: the races a store without
failpoints (nothing for the scheduler to stop at) can only show running free.
:func:`hot_round` runs one and judges it (linearizability with search, scan's weak
consistency, ``check()``).

>>> from warmtier.model import ModelStore
>>> program = RaceProgram(ModelStore(dim=DIM))
>>> for task in program.tasks():
...     task()
>>> program.verdict() is None
True
>>> hot_round(ModelStore(dim=DIM), hot_scripts(7), lambda tasks: [t() for t in tasks])
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from warmtier.testing.history import HistoryRecorder, RecordingStore, check_history
from warmtier.testing.witness import DIM, check_store, value, whole

__all__ = [
    "DIM",
    "HOT_IDS",
    "KINDS",
    "Op",
    "RaceProgram",
    "hot_round",
    "hot_scripts",
    "hot_value",
    "perform",
]

Step = tuple[str, str, int]

SCRIPTS: tuple[tuple[Step, ...], ...] = (
    (("put", "x", 120), ("put", "n0", 700), ("len", "", 0), ("get", "b", 0), ("compact", "", 0),
     ("get", "n1", 0)),
    (("get", "a", 0), ("put", "n1", 3000), ("put", "b", 20), ("len", "", 0), ("get", "a", 0),
     ("get", "x", 0)),
    (("put", "x", 9), ("put", "a", 5000), ("compact", "", 0), ("get", "n0", 0), ("len", "", 0),
     ("remove", "b", 0)),
)
"""What each thread does, in order: (operation, id, content size)."""


class RaceProgram:
    """One run of the race probe against ``store``; make a new one for each run."""

    def __init__(self, store: Any, point: Callable[[str], None] | None = None) -> None:
        self.store = store
        self.recorder = HistoryRecorder()
        self.view = self.recorder.wrap(store)
        self.point = point
        self.problems: list[str] = []
        for seq, (id, size) in enumerate((("a", 300), ("b", 64))):
            emb, content, conf = value(id, 9, seq, size)
            self.view.put(id, emb, content, conf)

    def tasks(self) -> list[Callable[[], None]]:
        return [self._task(t, script) for t, script in enumerate(SCRIPTS)]

    def _task(self, t: int, script: tuple[Step, ...]) -> Callable[[], None]:
        def body() -> None:
            for seq, (op, id, size) in enumerate(script):
                if self.point is not None and seq:
                    self.point(f"between ops of thread {t}")
                self._do(t, seq, op, id, size)

        return body

    def _do(self, t: int, seq: int, op: str, id: str, size: int) -> None:
        view = self.view
        if op == "put":
            emb, content, conf = value(id, t, seq, size)
            view.put(id, emb, content, conf)
        elif op == "get":
            got = view.get(id)
            if got is not None and (problem := whole(got, id)):
                self.problems.append(f"thread {t} get({id!r}): {problem}")
        elif op == "remove":
            view.remove(id)
        elif op == "len":
            len(view)
        elif op == "compact":
            self.store.compact()
        else:  # pragma: no cover - SCRIPTS is fixed
            raise ValueError(op)

    def verdict(self) -> str | None:
        """``None`` if the run was correct, else what went wrong (expected and actual)."""
        problems = list(self.problems)
        result = check_history(self.recorder.history(), self.recorder.model())
        if result.ok is not True:
            problems.append(result.message)
        ids = self.store.ids()
        if len(self.store) != len(ids):
            problems.append(f"len() is {len(self.store)} but ids() lists {len(ids)} ids")
        for id in ids:
            got = self.store.get(id)
            if got is None:
                problems.append(f"{id!r} is in ids() but get() returns None")
            elif problem := whole(got, id):
                problems.append(f"after the run: {problem}")
        try:
            check_store(self.store)
        except Exception as exc:
            problems.append(f"check() failed after the run: {exc!r}")
        return "\n".join(problems) if problems else None


# -- hot ids: every call, few ids ------------------------------------------------------

#: The ids hot-id programs use: two, so that most calls of a round meet on one id.
HOT_IDS: tuple[str, ...] = ("a", "b")

#: Every call of the contract, with its weight in drawn programs (mutations first).
KINDS: dict[str, int] = {
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


@dataclass(frozen=True)
class Op:
    """One call of a concurrent program: ``kind`` one of :data:`KINDS`; ``id`` for the
    per-id calls; ``size`` of a put's content; ``pick`` chooses a search's query and k,
    a scan's batch size."""

    kind: str
    id: str = ""
    size: int = 0
    pick: int = 0

    def __repr__(self) -> str:
        if self.kind == "put":
            return f"put({self.id!r}, {self.size} B)"
        if self.kind in ("search", "scan"):
            return f"{self.kind}(#{self.pick})"
        return f"{self.kind}({self.id!r})" if self.id else f"{self.kind}()"


def hot_value(id: str, writer: int, seq: int, size: int) -> tuple[Any, bytes, float]:
    """(embedding, content, confidence) of a put: witness content (self-describing), an
    embedding from a few directions of different norms, so that a search can tell
    values apart."""
    _, content, confidence = value(id, writer, seq, size)
    embedding = _DIRECTIONS[(writer * 3 + seq) % len(_DIRECTIONS)].copy()
    return embedding, content, confidence


def perform(view: RecordingStore, thread: int, seq: int, op: Op) -> None:
    """Do ``op`` through ``view`` (compact and flush on the store itself: they change no
    record, which the recorded calls around them verify)."""
    kind = op.kind
    if kind == "put":
        emb, content, conf = hot_value(op.id, thread, seq, op.size)
        view.put(op.id, emb, content, conf)
    elif kind == "get":
        view.get(op.id)
    elif kind == "remove":
        view.remove(op.id)
    elif kind == "contains":
        _ = op.id in view
    elif kind == "len":
        len(view)
    elif kind == "ids":
        view.ids()
    elif kind == "search":
        view.search(QUERIES[op.pick % len(QUERIES)], 1 + op.pick % 3)
    elif kind == "scan":
        list(view.scan(1 + op.pick % 2))
    elif kind == "compact":
        view.store.compact()
    elif kind == "flush":
        view.store.flush()
    else:
        raise ValueError(f"no operation {kind!r}; expected one of {sorted(KINDS)}")


def hot_scripts(seed: int, threads: int = 3, length: int = 8,
                ids: Sequence[str] = HOT_IDS) -> list[list[Op]]:
    """A random program from ``seed``: ``threads`` scripts of ``length`` calls drawn from
    :data:`KINDS` by weight, on ``ids``.

    >>> hot_scripts(1, threads=2, length=3)
    [[put('a', 40 B), remove('b'), contains('a')], [remove('b'), get('a'), remove('a')]]
    """
    rng = random.Random(seed)
    kinds, weights = list(KINDS), list(KINDS.values())

    def draw() -> Op:
        kind = rng.choices(kinds, weights)[0]
        return Op(kind, rng.choice(ids) if kind in ("put", "get", "remove", "contains") else "",
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
    history starts from no record); ``None`` if the outcome is correct, else why not."""
    for id in {op.id for script in scripts for op in script if op.id}:
        store.remove(id)
    for id in store.ids():
        store.remove(id)
    recorder = HistoryRecorder()
    view = recorder.wrap(store)

    def task(t: int, script: Sequence[Op]) -> Callable[[], None]:
        def body() -> None:
            for seq, op in enumerate(script):
                if point is not None and seq:
                    point(f"between ops of thread {t}")
                perform(view, t, seq, op)

        return body

    run([task(t, script) for t, script in enumerate(scripts)])
    problems = []
    result = check_history(recorder.history(), recorder.model())
    if result.ok is not True:
        problems.append(result.message)
    try:
        check_store(store)
    except Exception as exc:
        problems.append(f"check() failed after the round: {exc!r}")
    return "\n".join(problems) if problems else None
