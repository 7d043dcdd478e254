"""The contract over stdlib sqlite3: one WAL database, one connection behind one lock.
A short, complete adapter to copy when writing a store for another engine.
"""

from __future__ import annotations

import os
import sqlite3
import urllib.parse
from typing import Any, ClassVar

import numpy as np

from warmtier import validation as v
from warmtier.adapters.base import EngineStore, existing_directory, new_directory, top_k
from warmtier.errors import CapacityError, CorruptionError
from warmtier.records import CompactionStats, Record, StoreStats

__all__ = ["SQLiteStore"]

DB_NAME, FORMAT = "store.db", 1
_SCHEMA = """CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE records (id TEXT PRIMARY KEY, embedding BLOB NOT NULL, content BLOB NOT NULL,
                      confidence REAL NOT NULL);"""


class SQLiteStore(EngineStore):
    """A contract store in one SQLite database (``store.db`` and its WAL) in ``path``.

    Durability: every completed put/remove is durable (each is a committed transaction
    synced by the engine: WAL, ``synchronous=FULL``); ``flush()`` has nothing to do.
    Linearizable: one connection, every call under one lock. ``open()`` runs
    ``PRAGMA integrity_check`` and checks every row: O(records). SQLite keeps no
    checksums: a flipped byte inside a blob reads back as a different value.

    Stats, by this store's definitions: ``capacity`` is the record count (rows are made
    on demand); ``content_live_bytes`` the sum of content lengths;
    ``content_allocated_bytes`` the database pages (``page_count * page_size``, ids and
    embeddings included); ``fragmentation`` is ``freelist_count / page_count``.
    ``compact()`` is ``VACUUM`` plus a truncating WAL checkpoint, measured in those pages.
    """

    engine_error = sqlite3.Error
    #: Set on every connection; subclasses change durability here.
    pragmas: ClassVar[tuple[str, ...]] = ("journal_mode=WAL", "synchronous=FULL")

    def __init__(self, directory: str, lock_fd: int, db: sqlite3.Connection,
                 meta: dict[str, Any]) -> None:  # use create() or open()
        super().__init__(directory, lock_fd, meta["dim"], meta["max_content"])
        self._db = db

    def _conn(self) -> sqlite3.Connection:
        """The connection for the calling thread."""
        return self._db

    @classmethod
    def _connect(cls, db_path: str, mode: str) -> sqlite3.Connection:
        uri = f"file:{urllib.parse.quote(db_path)}?mode={mode}"
        db = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        try:
            for pragma in cls.pragmas:
                db.execute(f"PRAGMA {pragma}").fetchall()
        except BaseException:
            db.close()
            raise
        return db

    @classmethod
    def _translate(cls, exc: Exception, what: str) -> Exception:
        code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
        if code == sqlite3.SQLITE_FULL:
            return CapacityError(f"{what}: {exc}")
        if code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
            return CorruptionError(f"{what}: {exc}")
        return exc

    def _close_engine(self) -> None:
        self._db.close()  # the last connection checkpoints the WAL

    # -- lifecycle ------------------------------------------------------------------

    @classmethod
    def create(cls, path: str | os.PathLike[str], dim: int, *,
               max_content: int = v.DEFAULT_MAX_CONTENT) -> SQLiteStore:
        """A new store in ``path`` (absent or an empty directory)."""
        directory = new_directory(path, dim, max_content)
        meta = {"format": FORMAT, "dim": dim, "max_content": max_content}

        def start(lock_fd: int) -> SQLiteStore:
            db = cls._connect(os.path.join(directory, DB_NAME), "rwc")
            try:
                db.executescript(f"BEGIN; {_SCHEMA}")
                db.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
                db.execute("COMMIT")
            except BaseException:
                db.close()
                raise
            return cls(directory, lock_fd, db, meta)

        return cls._locked(directory, True, start)

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> SQLiteStore:
        """The store in ``path``; SQLite rolls back or replays its WAL. Whatever the engine
        rejects, or a bad meta table or row, is a CorruptionError."""
        directory = existing_directory(path, DB_NAME)

        def start(lock_fd: int) -> SQLiteStore:
            db = cls._connect(os.path.join(directory, DB_NAME), "rw")
            try:
                meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
                dim, most = meta.get("dim"), meta.get("max_content")
                if meta.get("format") != FORMAT or not isinstance(dim, int) or dim < 1 \
                        or not isinstance(most, int) or most < 0:
                    raise CorruptionError(f"{directory}: bad meta table {meta!r}")
                problems = _violations(db, dim)
                if problems:
                    raise CorruptionError(f"{directory}: {problems[0]}", problems)
            except BaseException:
                db.close()
                raise
            return cls(directory, lock_fd, db, meta)

        return cls._locked(directory, False, start)

    # -- records --------------------------------------------------------------------

    def put(self, id: str, embedding: Any, content: bytes | str, confidence: float = 1.0) -> None:
        v.validate_id(id)
        row = (id, v.validate_embedding(embedding, self._dim).astype("<f4").tobytes(),
               v.validate_content(content, self._max_content), v.validate_confidence(confidence))
        with self._guard("put"):
            self._conn().execute("INSERT OR REPLACE INTO records VALUES (?, ?, ?, ?)", row)

    def get(self, id: str) -> Record | None:
        v.validate_id(id)
        with self._guard("get"):
            row = self._conn().execute(
                "SELECT embedding, content, confidence FROM records WHERE id = ?", (id,)).fetchone()
        if row is None:
            return None
        if len(row[0]) != 4 * self._dim:
            raise CorruptionError(f"record {id!r}: embedding of {len(row[0])} bytes")
        return Record(id, np.frombuffer(row[0], "<f4"), row[1], float(np.float32(row[2])))

    def remove(self, id: str) -> bool:
        v.validate_id(id)
        with self._guard("remove"):
            return self._conn().execute("DELETE FROM records WHERE id = ?", (id,)).rowcount > 0

    def __len__(self) -> int:
        with self._guard("len"):
            return int(self._conn().execute("SELECT count(*) FROM records").fetchone()[0])

    def __contains__(self, id: object) -> bool:
        v.validate_id(id)
        with self._guard("contains"):
            found = self._conn().execute("SELECT 1 FROM records WHERE id = ?", (id,)).fetchone()
        return found is not None

    def ids(self) -> list[str]:
        with self._guard("ids"):
            return [row[0] for row in self._conn().execute("SELECT id FROM records")]

    def search(self, query: Any, k: int = 10) -> list[tuple[str, float]]:
        q, k = v.validate_query(query, self._dim), v.validate_k(k)
        with self._guard("search"):
            rows = self._conn().execute("SELECT id, embedding FROM records").fetchall()
        matrix = np.frombuffer(b"".join(r[1] for r in rows), "<f4").reshape(len(rows), self._dim)
        return top_k([r[0] for r in rows], matrix, q, k)

    # -- maintenance ----------------------------------------------------------------

    def flush(self) -> None:
        """Every commit is already synced (WAL, synchronous=FULL): nothing to do."""
        with self._guard("flush"):
            pass

    def compact(self) -> CompactionStats:
        with self._guard("compact"):
            db = self._conn()
            before = _pages(db)[0]
            db.execute("VACUUM")
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            after = _pages(db)[0]
            moved = int(db.execute("SELECT count(*) FROM records").fetchone()[0])
        return CompactionStats(bytes_before=before, bytes_after=after,
                               bytes_reclaimed=before - after, records_moved=moved)

    def stats(self) -> StoreStats:
        with self._guard("stats"):
            db = self._conn()
            count, live = db.execute(
                "SELECT count(*), coalesce(sum(length(content)), 0) FROM records").fetchone()
            allocated, pages, free = _pages(db)
        return StoreStats(records=count, capacity=count, content_live_bytes=live,
                          content_allocated_bytes=allocated, content_file_bytes=allocated,
                          fragmentation=free / pages if pages else 0.0,
                          extra={"page_count": pages, "freelist_count": free})

    def check(self) -> None:
        """``PRAGMA integrity_check`` and every row; CorruptionError names each problem."""
        with self._guard("check"):
            problems = _violations(self._conn(), self._dim)
        if problems:
            raise CorruptionError(f"{self._path}: {len(problems)} problem(s)", problems)


def _pages(db: sqlite3.Connection) -> tuple[int, int, int]:
    """(page bytes, page_count, freelist_count) of the database."""
    size, pages, free = (int(db.execute(f"PRAGMA {name}").fetchone()[0])
                         for name in ("page_size", "page_count", "freelist_count"))
    return pages * size, pages, free


def _violations(db: sqlite3.Connection, dim: int) -> list[str]:
    problems = [row[0] for row in db.execute("PRAGMA integrity_check") if row[0] != "ok"]
    for rid, emb, kind, conf in db.execute(
            "SELECT id, embedding, typeof(content), confidence FROM records"):
        if not (isinstance(rid, str) and 0 < len(rid.encode()) <= v.MAX_ID_BYTES
                and isinstance(emb, bytes) and len(emb) == 4 * dim and kind == "blob"
                and isinstance(conf, (int, float)) and 0.0 <= conf <= 1.0
                and np.isfinite(np.frombuffer(emb, "<f4")).all()):
            problems.append(f"record {rid!r}: bad id, embedding, content or confidence")
    return problems
