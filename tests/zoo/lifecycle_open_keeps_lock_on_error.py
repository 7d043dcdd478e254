"""Lifecycle: ``open()`` of a corrupt directory raises ``CorruptionError`` but keeps the
directory lock; every later ``open()`` in the process says ``StoreLockedError`` instead of
reporting the corruption (or succeeding once the files are repaired).
"""

from __future__ import annotations

import errno
import os

from warmtier.errors import CorruptionError
from warmtier.store import Verify, WarmTierStore

CATEGORY = "lifecycle"
CAUGHT_BY = ("regressions", "unit")
COPIED_FROM = {"open": "7cddbf03012f"}


class OpenKeepsLockOnErrorStore(WarmTierStore):
    """Reference store whose failed open leaks the directory lock."""

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, verify: Verify = "all") -> WarmTierStore:
        if verify not in ("all", "recent"):
            raise ValueError(f"verify must be 'all' or 'recent'; got {verify!r}")
        directory = os.path.abspath(os.fspath(path))
        if not os.path.exists(directory):
            raise FileNotFoundError(errno.ENOENT, "no store at this path", directory)
        if not os.path.isdir(directory):
            raise CorruptionError(f"{directory} is not a directory; not a warmtier store")
        lock_fd = cls._acquire_lock(directory)
        store = object.__new__(cls)
        try:
            store._recover(directory, lock_fd, verify)
        except BaseException:
            store._drop_files()  # BUG: cls._release_lock(directory, lock_fd) is missing
            raise
        return store
