"""Hypothesis settings profiles (``dev``, ``ci``, ``nightly``), the example database they
share, and which profile is loaded; :mod:`.pytest_plugin` picks one per run.

The example database is a directory (``.hypothesis/examples`` or
``WARMTIER_HYPOTHESIS_DB``); ``WARMTIER_HYPOTHESIS_SHARED_DB`` adds a team directory read
through :class:`hypothesis.database.ReadOnlyDatabase` next to it, and ``WARMTIER_SHARED_DB``
(or ``--shared-db``) a Redis server instead (:mod:`warmtier.campaign.shared_db`).
"""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, Phase, Verbosity, settings
from hypothesis.database import (
    DirectoryBasedExampleDatabase,
    ExampleDatabase,
    MultiplexedDatabase,
    ReadOnlyDatabase,
)

__all__ = [
    "DB_ENV",
    "PROFILES",
    "PROFILE_ENV",
    "SHARED_DB_ENV",
    "active_profile",
    "example_database",
    "load_profile",
    "register_profiles",
    "scaled",
]

PROFILE_ENV = "WARMTIER_HYPOTHESIS_PROFILE"
DB_ENV = "WARMTIER_HYPOTHESIS_DB"
SHARED_DB_ENV = "WARMTIER_HYPOTHESIS_SHARED_DB"
PROFILES = ("dev", "ci", "nightly")

_SUPPRESS = (
    HealthCheck.too_slow,
    HealthCheck.data_too_large,
    HealthCheck.filter_too_much,
    HealthCheck.large_base_example,
)

_FAST_PHASES = (Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink)

_active: str = "dev"


def example_database() -> ExampleDatabase:
    """The local example database, multiplexed with a read-only team database when
    ``WARMTIER_HYPOTHESIS_SHARED_DB`` names one.

    Local failures are saved locally and replayed first next time; the shared directory
    (a synced folder, or a CI artifact unpacked in place) is only ever read.
    """
    local = DirectoryBasedExampleDatabase(os.environ.get(DB_ENV, ".hypothesis/examples"))
    team = os.environ.get("WARMTIER_SHARED_DB")  # a Redis server: docs/nightly.md
    if team:
        from warmtier.campaign.shared_db import team_database

        return team_database(local, team)
    shared = os.environ.get(SHARED_DB_ENV)
    if not shared:
        return local
    return MultiplexedDatabase(local, ReadOnlyDatabase(DirectoryBasedExampleDatabase(shared)))


def register_profiles() -> None:
    """Register ``dev``, ``ci`` and ``nightly`` (``ci`` replaces Hypothesis' own)."""
    common: dict[str, Any] = {
        "deadline": None,
        "print_blob": True,
        "report_multiple_bugs": False,
        "suppress_health_check": _SUPPRESS,
        "database": example_database(),
        "derandomize": False,
        # The explain phase re-runs a stateful counterexample hundreds of times under a
        # tracer: 90 % of the time to report a failure, for a comment on each line.
        "phases": _FAST_PHASES,
    }
    settings.register_profile("dev", max_examples=150, stateful_step_count=40, **common)
    settings.register_profile("ci", max_examples=100, stateful_step_count=30, **common)
    settings.register_profile(
        "nightly", max_examples=3000, stateful_step_count=200, **{**common, "phases": tuple(Phase)}
    )
    settings.register_profile("debug", parent=settings.get_profile("dev"),
                              verbosity=Verbosity.verbose)


def active_profile() -> str:
    """The name of the loaded profile."""
    return _active


def load_profile(name: str) -> None:
    """Load the profile ``name`` as Hypothesis' default and remember it as the active one."""
    global _active
    settings.load_profile(name)
    _active = name


def scaled(factor: float, **overrides: Any) -> settings:
    """The active profile with ``max_examples`` multiplied by ``factor`` (at least 1).

    Cheap machines (the allocator) run more examples than expensive ones, in proportion.
    """
    base = settings.default
    assert base is not None
    return settings(base, max_examples=max(1, int(base.max_examples * factor)), **overrides)


register_profiles()
