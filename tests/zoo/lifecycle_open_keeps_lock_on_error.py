"""Lifecycle: ``open()`` of a corrupt directory raises ``CorruptionError`` but keeps the
directory lock; every later ``open()`` in the process says ``StoreLockedError`` instead of
reporting the corruption (or succeeding once the files are repaired).
"""

from __future__ import annotations

from warmtier.store import WarmTierStore

from ._support import patch

CATEGORY = "lifecycle"
CAUGHT_BY = ("regressions", "unit")


@patch("open", old="cls._release_lock(directory, lock_fd)",
       new="pass  # BUG: the lock is not released")
class OpenKeepsLockOnErrorStore(WarmTierStore):
    """Reference store whose failed open leaks the directory lock."""
