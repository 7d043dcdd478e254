"""The campaign's plan and its split: every suite's long runs as units (a test file, a zoo
member, the scale suite), dealt to N shards by estimated time, the same way on every shard.

The split is greedy longest-first by seconds (recorded durations when a file gives them,
else a per-suite estimate), ties broken by a stable hash of the unit's name, so that each
shard computes the same disjoint parts without talking to the others.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["SUITES", "Shard", "Unit", "night_seed", "plan", "split"]

#: Suites of a campaign, in the order a shard runs them.
SUITES = ("properties", "concurrency", "crash", "zoo", "scale")

#: Seconds per unit when no recorded duration is known (nightly sizes, two cores).
ESTIMATE = {"properties": 900.0, "concurrency": 300.0, "crash": 600.0, "zoo": 120.0,
            "scale": 2400.0}

_PATHS: dict[str, tuple[str, ...]] = {
    "properties": ("tests/properties/test_*.py", "tests/regressions"),
    "concurrency": ("tests/concurrency/test_*.py", "tests/unit/test_linearizability.py",
                    "tests/unit/test_scheduler.py"),
    "crash": ("tests/crash/test_*.py",),
    "scale": ("tests/scale",),
}


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``total`` (1-based), as in ``--shard=2/4``.

    >>> Shard.parse("2/4")
    Shard(index=2, total=4)
    """

    index: int
    total: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
        if not m or not 1 <= int(m[1]) <= int(m[2]):
            raise ValueError(f"--shard={text!r}: expected I/N with 1 <= I <= N, e.g. 1/4")
        return cls(int(m[1]), int(m[2]))

    def __str__(self) -> str:
        return f"{self.index}/{self.total}"


@dataclass(frozen=True)
class Unit:
    """One piece of a suite: a test path (or a zoo member's name) and its expected seconds."""

    suite: str
    target: str
    seconds: float

    @property
    def name(self) -> str:
        return f"{self.suite}:{self.target}"


def plan(root: Path, suites: Sequence[str], zoo_members: Sequence[str] = (),
         durations: Mapping[str, float] | None = None) -> list[Unit]:
    """Every unit of ``suites`` under the repository ``root``, with its expected seconds."""
    known = durations or {}
    units: list[Unit] = []
    for suite in suites:
        if suite == "zoo":
            targets = list(zoo_members)
        else:
            targets = []
            for pattern in _PATHS[suite]:
                hits = sorted(root.glob(pattern))
                targets += [p.relative_to(root).as_posix() for p in hits
                            if p.is_dir() or p.suffix == ".py"]
        for target in targets:
            name = f"{suite}:{target}"
            units.append(Unit(suite, target, float(known.get(name, ESTIMATE[suite]))))
    return units


def _tiebreak(name: str) -> str:
    return hashlib.sha1(name.encode()).hexdigest()


def split(units: Sequence[Unit], total: int) -> list[list[Unit]]:
    """Deal ``units`` to ``total`` shards, longest first to the least loaded one.

    >>> parts = split([Unit("crash", f"t{i}.py", s) for i, s in enumerate([5, 4, 3, 3, 1])], 2)
    >>> [sum(u.seconds for u in p) for p in parts]
    [8, 8]
    """
    parts: list[list[Unit]] = [[] for _ in range(total)]
    loads = [0.0] * total
    for unit in sorted(units, key=lambda u: (-u.seconds, _tiebreak(u.name))):
        lightest = min(range(total), key=lambda i: (loads[i], i))
        parts[lightest].append(unit)
        loads[lightest] += unit.seconds
    return parts


def night_seed(night: str, shard: Shard, salt: str = "") -> int:
    """The seed of one shard on one night: differs per shard and per night, and is the
    same when the same shard of the same night runs again.

    >>> night_seed("2025-01-31", Shard(1, 2)) != night_seed("2025-01-31", Shard(2, 2))
    True
    """
    digest = hashlib.sha256(f"{night}|{shard}|{salt}".encode()).hexdigest()
    return int(digest[:8], 16)
