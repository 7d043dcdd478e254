"""Kill points: where a crash round kills the child, written as the POINT of ``SEED:POINT``.

``fp:NAME:KIND:K``   the K-th hit of failpoint NAME during operations of KIND
``hit:K``            the K-th hit of any failpoint
``op:I``             just before operation I starts (after I-1 returned)
``time:MS``          the parent's SIGKILL, MS milliseconds after the store opened
``end``              after the whole workload (a crash with nothing in flight)
``pl:N:OPS``         power loss at the N-th crash point of an in-process run of OPS operations
                     (see powerloss; ``pl:N`` is a run of 80, the full test's length)
``fz:I``             the I-th mutated file set of the fuzz loop of that seed (see fuzz)
``raise:NAME:KIND:K`` no kill: an exception at that hit, in-process (see faults)
``enospc:NAME:KIND:K`` no kill: ``OSError(ENOSPC)`` at that hit, in-process

>>> KillPoint.parse("fp:put.before_publish:replace:2")
KillPoint(kind='fp', name='put.before_publish', op_kind='replace', number=2)
>>> str(KillPoint.parse("op:17")), str(KillPoint.parse("pl:3:40"))
('op:17', 'pl:3:40')
>>> parse_replay("42:hit:9")
(42, KillPoint(kind='hit', name='', op_kind='', number=9))
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["KillPoint", "parse_replay"]



@dataclass(frozen=True)
class KillPoint:
    """One place to kill the child; ``str()`` gives the spelling ``parse`` reads."""

    kind: str
    name: str = ""
    op_kind: str = ""
    number: int = 0
    ops: int = field(default=0, repr=False)  # pl only: the workload's length, 0 for 80

    @classmethod
    def parse(cls, text: str) -> KillPoint:
        parts = text.split(":")
        try:
            if parts[0] in ("fp", "raise", "enospc") and len(parts) == 4:
                number = int(parts[3])
                if number < 1:
                    raise ValueError(text)
                return cls(parts[0], parts[1], parts[2], number)
            if parts[0] == "pl" and len(parts) == 3 and int(parts[1]) >= 0 and int(parts[2]) > 0:
                return cls("pl", number=int(parts[1]), ops=int(parts[2]))
            if parts[0] in ("hit", "op", "time", "pl", "fz") and len(parts) == 2:
                number = int(parts[1])
                if number < (1 if parts[0] == "hit" else 0):
                    raise ValueError(text)
                return cls(parts[0], number=number)
            if parts == ["end"]:
                return cls("end")
        except ValueError:
            pass
        raise ValueError(
            f"kill point {text!r}: expected one of fp:NAME:KIND:K, hit:K, op:I, time:MS, end, pl:N[:OPS], fz:I, "
            "raise:NAME:KIND:K, enospc:NAME:KIND:K"
        )

    def __str__(self) -> str:
        if self.kind in ("fp", "raise", "enospc"):
            return f"{self.kind}:{self.name}:{self.op_kind}:{self.number}"
        if self.kind == "end":
            return "end"
        if self.kind == "pl" and self.ops:
            return f"pl:{self.number}:{self.ops}"
        return f"{self.kind}:{self.number}"

    def as_kind(self, kind: str) -> KillPoint:
        """The same failpoint hit with another action (``fp`` kill, ``raise``, ``enospc``)."""
        return KillPoint(kind, self.name, self.op_kind, self.number)

    @property
    def exact(self) -> bool:
        """Whether a replay kills at the same place (a timed kill lands near it only)."""
        return self.kind != "time"


def parse_replay(text: str) -> tuple[int, KillPoint]:
    """``SEED:POINT`` as printed by a failure, for ``--replay``."""
    seed, sep, point = text.partition(":")
    try:
        value = int(seed)
    except ValueError:
        value = -1
    if not sep or value < 0:
        raise ValueError(f"replay {text!r}: expected SEED:POINT, for example 42:op:17")
    return value, KillPoint.parse(point)
