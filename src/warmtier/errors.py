"""The exception hierarchy of the public contract.

Every error a store raises on purpose derives from :class:`WarmTierError`, so callers
can catch the family or one member.
"""

from __future__ import annotations

__all__ = [
    "CapacityError",
    "CorruptionError",
    "InvalidArgumentError",
    "StoreClosedError",
    "StoreLockedError",
    "WarmTierError",
]


class WarmTierError(Exception):
    """Base class of every error raised by a warm-tier store."""


class InvalidArgumentError(WarmTierError, ValueError):
    """An argument breaks the contract's rules; raised before any state changes."""


class StoreClosedError(WarmTierError):
    """The store was used after ``close()``."""


class StoreLockedError(WarmTierError):
    """The store directory is already open, in this process or another."""


class CorruptionError(WarmTierError):
    """The files break the format or an invariant.

    ``violations`` lists every problem found, one human-readable line each.
    """

    def __init__(self, message: str, violations: list[str] | None = None) -> None:
        self.violations: list[str] = list(violations) if violations else [message]
        super().__init__(message)


class CapacityError(WarmTierError):
    """Growth is impossible (disk full or a configured limit); nothing changed."""
