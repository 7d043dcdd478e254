"""Every member of the bug zoo, found by walking this package: name, spec, category,
description, and the suites expected to catch it.

A member is a module ``tests/zoo/<name>.py`` (no leading underscore) that defines exactly
one subclass of ``WarmTierStore``; its docstring's first sentence names the bug. It may
set ``CATEGORY`` (default: the module name's prefix), ``CAUGHT_BY`` (suite names from
:data:`SUITES`; default: ``("properties",)``; the first is the one the CI gate runs) and
``QUICK`` (pytest arguments -- node ids, ``-k`` -- narrowing that first suite for the
gate). ``python -m tests.zoo.registry`` lists them.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import sys
from dataclasses import dataclass
from pathlib import Path

from warmtier.store import WarmTierStore

__all__ = ["PACKAGE", "REPO_ROOT", "SUITES", "Member", "members"]

PACKAGE = "tests.zoo"
REPO_ROOT = Path(__file__).resolve().parents[2]

def _ordered(directory: str, *first: str) -> tuple[str, ...]:
    """The test files of ``directory``, the named ones first (so that ``-x`` stops at the
    suite's strongest test early), then the rest by name."""
    here = REPO_ROOT / directory
    if not here.is_dir():
        return (directory,)
    rest = sorted(p.name for p in here.glob("test_*.py") if p.name not in first)
    return tuple(f"{directory}/{name}" for name in (*first, *rest) if (here / name).exists())


#: Suite name -> the test paths it runs, relative to the repository root.
SUITES: dict[str, tuple[str, ...]] = {
    "properties": _ordered("tests/properties", "test_store_machine.py"),
    "concurrency": ("tests/concurrency",),
    "crash": ("tests/crash",),
    "scale": ("tests/scale",),
    "unit": ("tests/unit",),
    "regressions": ("tests/regressions",),
}

#: Gate targets for members written by other suites' authors, kept here so that their
#: modules stay as they wrote them: name -> QUICK (the gate's pytest arguments).
_QUICK = {
    "crash_retire_old_version_before_durable": ("tests/crash/test_crash_power_loss.py",),
    "crash_content_copied_after_put_returns": ("tests/crash/test_crash_kills.py",),
    "race_lock_leak_on_exception": ("tests/concurrency/test_panic_injection.py",),
    # Barrier runs catch this one only now and then; PCT schedules catch it within a few
    # dozen seeds (seen: 7 to 124 of 150), so the gate gives the scheduler 300.
    "race_len_counter_nonatomic": (
        "tests/concurrency/test_controlled_schedules.py::"
        "test_race_probe_is_correct_under_seeded_schedules",
        "--warmtier-schedule-runs=300",
    ),
}

_PREFIX_CATEGORY = {
    "alloc": "allocator", "compact": "compaction", "grow": "growth", "persist": "persistence",
    "race": "concurrency", "validate": "validation",
}


@dataclass(frozen=True)
class Member:
    """One planted bug."""

    name: str
    spec: str
    category: str
    description: str
    caught_by: tuple[str, ...]
    quick: tuple[str, ...] = ()

    @property
    def module(self) -> str:
        return self.spec.partition(":")[0]


def _first_sentence(doc: str) -> str:
    text = " ".join(doc.split())
    end = text.find(". ")
    return text if end < 0 else text[: end + 1]


def _load(name: str) -> Member:
    module = importlib.import_module(f"{PACKAGE}.{name}")
    classes = [
        obj for obj in vars(module).values()
        if inspect.isclass(obj) and issubclass(obj, WarmTierStore) and obj is not WarmTierStore
        and obj.__module__ == module.__name__
    ]
    if len(classes) != 1:
        raise TypeError(
            f"zoo member {module.__name__} must define exactly one WarmTierStore subclass; "
            f"found {[c.__name__ for c in classes]}"
        )
    doc = inspect.getdoc(module)
    if not doc:
        raise TypeError(f"zoo member {module.__name__} needs a docstring naming its bug")
    category = getattr(module, "CATEGORY", None) or _PREFIX_CATEGORY.get(
        name.split("_", 1)[0], name.split("_", 1)[0])
    caught_by = tuple(getattr(module, "CAUGHT_BY", ("properties",)))
    unknown = [s for s in caught_by if s not in SUITES]
    if unknown:
        raise ValueError(f"zoo member {name}: CAUGHT_BY names unknown suites {unknown}; "
                         f"known: {sorted(SUITES)}")
    return Member(name=name, spec=f"{module.__name__}:{classes[0].__name__}",
                  category=str(category), description=_first_sentence(doc),
                  caught_by=caught_by,
                  quick=tuple(getattr(module, "QUICK", None) or _QUICK.get(name, ())))


def members() -> list[Member]:
    """Every zoo member, by name."""
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    here = Path(__file__).parent
    names = sorted(
        info.name for info in pkgutil.iter_modules([str(here)])
        if not info.name.startswith("_") and info.name not in {"registry", "runner"}
        and not info.name.startswith("test_") and not info.name.startswith("conftest")
    )
    return [_load(name) for name in names]


def main() -> None:
    for m in members():
        print(f"{m.name:40} {m.category:12} {','.join(m.caught_by):22} {m.description}")


if __name__ == "__main__":
    main()
