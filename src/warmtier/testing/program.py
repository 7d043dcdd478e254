"""A small fixed concurrent program over the contract, and its verdict: the race probe.

Three threads run short scripts that make every classic race of a store possible:
puts of the same new id (counting), puts of different new ids (slot and extent choice),
replacing puts racing gets (publication order), compaction racing reads and writes
(relocation), and ``len`` racing all of it. :meth:`RaceProgram.verdict` checks the
recorded history for linearizability, every read for wholeness, ``len`` against
``ids()``, and ``check()``. The same program runs under barriers or the scheduler.

>>> from warmtier.model import ModelStore
>>> program = RaceProgram(ModelStore(dim=DIM))
>>> for task in program.tasks():
...     task()
>>> program.verdict() is None
True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from warmtier.testing.history import HistoryRecorder, StoreModel
from warmtier.testing.linearizability import check
from warmtier.testing.witness import DIM, check_store, value, whole

__all__ = ["DIM", "RaceProgram"]

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
        result = check(self.recorder.history(), StoreModel())
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
