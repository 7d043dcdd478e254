"""warmtier: a memory-mapped warm-tier store, and the suite that proves a store correct.

The public contract (see docs/contract-extensions.md for what this package adds):
``WarmTierStore``, ``Record``, the errors, ``failpoints`` and ``warmtier.model.ModelStore``.
"""

from __future__ import annotations

from warmtier import failpoints
from warmtier.errors import (
    CapacityError,
    CorruptionError,
    InvalidArgumentError,
    StoreClosedError,
    StoreLockedError,
    WarmTierError,
)
from warmtier.records import CompactionStats, Record, StoreStats
from warmtier.store import WarmTierStore

__all__ = [
    "CapacityError",
    "CompactionStats",
    "CorruptionError",
    "InvalidArgumentError",
    "Record",
    "StoreClosedError",
    "StoreLockedError",
    "StoreStats",
    "WarmTierError",
    "WarmTierStore",
    "failpoints",
]

__version__ = "0.1.0"
