"""Recorded durations of a campaign's units: what a run measured per unit, the night's
``durations.json`` the merged report writes, and the file a shard's split reads.

A durations file is JSON ``{"suite:target": seconds, ...}``, unit names as
:func:`warmtier.campaign.sharding.plan` makes them. A missing or unreadable one is a
warning, never a failed run: the split falls back to the per-suite estimates.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "FILE_NAME",
    "DurationsWarning",
    "load",
    "newest",
    "night_durations",
    "unit_of",
    "unit_seconds",
    "zoo_seconds",
]

#: The name of a night's recorded durations, next to its ``summary.json``.
FILE_NAME = "durations.json"


class DurationsWarning(UserWarning):
    """A durations file could not be used; the per-suite estimates stand in."""


def unit_of(path: str, targets: Sequence[str]) -> str:
    """The unit target a test file belongs to: the target naming the file itself, else the
    deepest target directory holding it, else the file (a unit of its own).

    >>> unit_of("tests/regressions/test_r1.py", ["tests/regressions", "tests/p/test_a.py"])
    'tests/regressions'
    >>> unit_of("tests/p/test_a.py", ["tests/p/test_a.py"])
    'tests/p/test_a.py'
    """
    hits = [t for t in targets
            if path == t.rstrip("/") or path.startswith(t.rstrip("/") + "/")]
    return max(hits, key=len) if hits else path


def unit_seconds(file_seconds: Mapping[str, float], suite: str,
                 targets: Sequence[str]) -> dict[str, float]:
    """Seconds per unit name (``suite:target``) from seconds per test file.

    >>> unit_seconds({"tests/scale/test_a.py": 2.0, "tests/scale/test_b.py": 1.5}, "scale",
    ...              ["tests/scale"])
    {'scale:tests/scale': 3.5}
    """
    out: dict[str, float] = {}
    for path, seconds in sorted(file_seconds.items()):
        name = f"{suite}:{unit_of(path, targets)}"
        out[name] = round(out.get(name, 0.0) + seconds, 3)
    return out


def zoo_seconds(rows: Sequence[Mapping[str, Any]], total: float) -> dict[str, float]:
    """Seconds per zoo member (``zoo:name``): the wall time of the member's suite runs
    (``runs[].wall_seconds`` of the zoo runner's rows); a row without them gets an even
    share of what the rows with them leave of ``total``.

    >>> zoo_seconds([{"name": "a", "runs": [{"wall_seconds": 3.0}, {"wall_seconds": 1.0}]},
    ...              {"name": "b"}, {"name": "c", "runs": []}], total=10.0)
    {'zoo:a': 4.0, 'zoo:b': 3.0, 'zoo:c': 3.0}
    """
    measured: dict[str, float] = {}
    unmeasured: list[str] = []
    for row in rows:
        walls = [r.get("wall_seconds") for r in row.get("runs") or []]
        if walls and all(isinstance(w, int | float) for w in walls):
            measured[f"zoo:{row['name']}"] = round(float(sum(walls)), 3)
        else:
            unmeasured.append(f"zoo:{row['name']}")
    if unmeasured:
        share = max(total - sum(measured.values()), 0.0) / len(unmeasured)
        measured.update({name: round(share, 3) for name in unmeasured})
    return dict(sorted(measured.items()))


def _clean(data: object, where: str) -> dict[str, float]:
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object of unit name -> seconds, got {type(data).__name__}")
    good = {str(k): float(v) for k, v in data.items()
            if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            and v >= 0}
    if len(good) < len(data):
        warnings.warn(DurationsWarning(
            f"durations file {where}: ignored {len(data) - len(good)} entries that are not "
            "seconds"), stacklevel=3)
    return good


def load(path: str | Path) -> dict[str, float]:
    """Unit name -> seconds from a durations file; an empty mapping, with a
    :class:`DurationsWarning`, when it is missing or not such a file."""
    try:
        return _clean(json.loads(Path(path).read_text(encoding="utf-8")), str(path))
    except (OSError, ValueError) as exc:
        warnings.warn(DurationsWarning(
            f"durations file {path} is unusable ({exc}); using the per-suite estimates"),
            stacklevel=2)
        return {}


def newest(out: Path, before: str) -> Path | None:
    """The ``durations.json`` of the latest night under ``out`` earlier than ``before``
    (night names sort as dates), or None. Earlier only: a shard rerun after the night's
    own merge computes the same split as the night's other shards."""
    if not out.is_dir():
        return None
    found = sorted(p for p in out.glob(f"*/{FILE_NAME}") if p.parent.name < before)
    return found[-1] if found else None


def night_durations(shards: Iterable[Mapping[str, Any]], night_dir: Path) -> dict[str, float]:
    """The night's durations: every shard's ``unit_seconds``, over the latest earlier
    night's file for the units that did not run tonight."""
    earlier = newest(night_dir.parent, night_dir.name)
    merged = load(earlier) if earlier is not None else {}
    for shard in shards:
        for name, seconds in (shard.get("unit_seconds") or {}).items():
            merged[name] = float(seconds)
    return dict(sorted(merged.items()))
