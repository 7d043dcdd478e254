"""Batch calls in the crash workload: one numbered operation that holds the single calls it
means (docs/contract-extensions.md, "Batch calls": a batch means the loop of its records).

A :class:`Batch` is drawn only for a store that declares its kind in ``batch_calls``
(:func:`batch_kinds`); a store that declares none gets the workload it always had.

>>> from warmtier.testing.ops import Op
>>> batch = Batch(3, "remove_many", (Op.on("remove", "a"), Op.on("remove", "b")))
>>> batch, [op.describe() for op in batch.records()]
(#3 remove_many('a', 'b'), ["remove('a')", "remove('b')"])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from warmtier.testing.ops import Op
from warmtier.testing.subject import Subject

__all__ = ["BATCH_KINDS", "Batch", "Step", "batch_kinds"]

#: The batch calls the crash workload draws: two that write, one that reads.
#: (``search_many`` is a read the crash suite has nothing to say about.)
BATCH_KINDS = ("put_many", "remove_many", "get_many")

#: The single call each batch kind is a loop of.
_PART = {"put_many": "put", "remove_many": "remove", "get_many": "get"}


def batch_kinds(store_class: type[Any]) -> tuple[str, ...]:
    """The batch kinds the crash workload may send ``store_class``: those of
    :data:`BATCH_KINDS` it declares in ``batch_calls`` (a method alone promises nothing)."""
    declared = Subject.of(store_class).batch_calls
    return tuple(kind for kind in BATCH_KINDS if kind in declared)


@dataclass(frozen=True)
class Batch:
    """One batch call of a crash workload: ``kind`` is a :data:`BATCH_KINDS` name, ``parts``
    the single calls it means, in order (puts with their records, removes or gets with
    their ids); ``index`` its number in the workload."""

    index: int
    kind: str
    parts: tuple[Op, ...]

    def __post_init__(self) -> None:
        if self.kind not in _PART:
            raise ValueError(f"no batch {self.kind!r}; expected one of {BATCH_KINDS}")
        wrong = [op for op in self.parts if op.call != _PART[self.kind]]
        if wrong:
            raise ValueError(f"{self.kind} holds {wrong}, not {_PART[self.kind]} calls")

    def records(self) -> tuple[Op, ...]:
        """The single mutations the batch means, in order (none for a read)."""
        return () if self.kind == "get_many" else self.parts

    def apply(self, store: Any) -> Any:
        """Call the batch on ``store``; what the call returns."""
        if self.kind == "put_many":
            return store.put_many([(op.id, np.array(op.embedding, np.float32), op.content,
                                    op.confidence) for op in self.parts])
        return getattr(store, self.kind)([op.id for op in self.parts])

    def describe(self) -> str:
        """``#12 put_many('id-03' 300 B, 'id-07' 0 B)``: the number, then each part."""
        if self.kind == "put_many":
            shown = [f"{op.id!r} {len(op.content)} B" for op in self.parts]
        else:
            shown = [repr(op.id) for op in self.parts]
        number = f"#{self.index} " if self.index >= 0 else ""
        return f"{number}{self.kind}({', '.join(shown)})"

    __repr__ = describe


#: One operation of a crash workload: a single call or a batch.
Step = Op | Batch
