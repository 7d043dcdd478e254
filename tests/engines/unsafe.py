"""Unsafe variants of the engine adapters: each a few lines on the adapter's own hooks, each
a mistake people make with the engine, each one the suites must catch.

    pytest tests/concurrency --warmtier-store=tests.engines.unsafe:SQLiteCheckThenActRemove
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from typing import Any, ClassVar

from warmtier.adapters.lmdb import LMDBStore
from warmtier.adapters.sqlite import DB_NAME, SQLiteStore
from warmtier.validation import validate_id


class SQLiteNoSync(SQLiteStore):
    """Commits are not synced (``synchronous=OFF``, rollback journal in memory), yet the
    store still promises no loss: caught by power loss."""

    pragmas: ClassVar[tuple[str, ...]] = ("journal_mode=MEMORY", "synchronous=OFF")


class SQLiteSharedConnectionNoLock(SQLiteStore):
    """One connection shared by every thread with no lock around it: statements of one
    thread run inside another's (VACUUM among open reads fails): caught by barrier races."""

    def _make_lock(self) -> contextlib.AbstractContextManager[Any]:
        return contextlib.nullcontext()


class SQLiteCheckThenActRemove(SQLiteStore):
    """A connection per thread, and ``remove`` checks then deletes outside the lock: two
    concurrent removes of one id can both return True."""

    def _conn(self) -> sqlite3.Connection:
        local = self.__dict__.setdefault("_local", threading.local())
        if not hasattr(local, "db"):
            local.db = self._connect(f"{self._path}/{DB_NAME}", "rw")
            self.__dict__.setdefault("_extra", []).append(local.db)
        db: sqlite3.Connection = local.db
        return db

    def _close_engine(self) -> None:
        for db in self.__dict__.get("_extra", []):
            db.close()
        super()._close_engine()

    def remove(self, id: str) -> bool:
        validate_id(id)
        with self._guard("remove"):  # only the closed check; the lock is released again
            pass
        db = self._conn()
        if db.execute("SELECT 1 FROM records WHERE id = ?", (id,)).fetchone() is None:
            return False
        db.execute("DELETE FROM records WHERE id = ?", (id,))
        return True


class LMDBWritemapAsync(LMDBStore):
    """Writes through a writable map, flushed asynchronously: not durable at commit, and on
    a full disk a write to the map is a SIGBUS, not a CapacityError."""

    env_options: ClassVar[dict[str, Any]] = {
        **LMDBStore.env_options, "writemap": True, "map_async": True}


class LMDBNoSync(LMDBStore):
    """Commits are not synced (``sync=False``): durable only at ``flush()``, yet the store
    still promises no loss: caught by power loss."""

    env_options: ClassVar[dict[str, Any]] = {**LMDBStore.env_options, "sync": False}
