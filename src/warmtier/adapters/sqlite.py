"""The contract over stdlib sqlite3: one WAL database, one connection behind one lock.
A short, complete adapter to copy when writing a store for another engine.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import sqlite3
import threading
import urllib.parse
from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np

from warmtier.errors import (
    CapacityError,
    CorruptionError,
    InvalidArgumentError,
    StoreClosedError,
    StoreLockedError,
)
from warmtier.records import CompactionStats, Record, StoreStats
from warmtier.validation import (
    DEFAULT_MAX_CONTENT,
    validate_confidence,
    validate_content,
    validate_embedding,
    validate_id,
    validate_k,
    validate_query,
)

__all__ = ["SQLiteStore", "lock_directory", "top_k"]

DB_NAME = "store.db"
LOCK_NAME = "LOCK"
FORMAT = 1
_SCHEMA = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)",
    "CREATE TABLE records (id TEXT PRIMARY KEY, embedding BLOB NOT NULL, "
    "content BLOB NOT NULL, confidence REAL NOT NULL)",
)
_BAD_ROWS = (
    "SELECT count(*) FROM records WHERE typeof(id) != 'text' "
    "OR length(CAST(id AS BLOB)) NOT BETWEEN 1 AND 255 OR typeof(embedding) != 'blob' "
    "OR length(embedding) != ? OR typeof(content) != 'blob' "
    "OR typeof(confidence) NOT IN ('real', 'integer') OR confidence < 0 OR confidence > 1"
)


def lock_directory(directory: str) -> int:
    """An exclusive, non-blocking flock on ``LOCK``: a second open, here or elsewhere, fails."""
    fd = os.open(os.path.join(directory, LOCK_NAME), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise StoreLockedError(f"{directory} is already open") from None
    return fd


def _translate(exc: sqlite3.Error, what: str) -> Exception:
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
    if code == sqlite3.SQLITE_FULL:
        return CapacityError(f"{what}: {exc}")
    if code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
        return CorruptionError(f"{what}: {exc}")
    return exc


def top_k(ids: list[str], matrix: np.ndarray[Any, Any], query: np.ndarray[Any, Any],
          k: int) -> list[tuple[str, float]]:
    """Cosine of each row with ``query`` in float64 (as the model), zero norm scoring 0.0;
    the ``k`` best, best first, ties by id ascending. Row sums, not BLAS, so equal rows tie."""
    e = matrix.astype(np.float64)
    q = query.astype(np.float64)
    norms = np.sqrt((e * e).sum(axis=1))
    with np.errstate(all="ignore"):
        scores = (e * q).sum(axis=1) / (norms * float(np.linalg.norm(q)))
    scores[norms == 0.0] = 0.0
    np.clip(scores, -1.0, 1.0, out=scores)
    cand = np.arange(len(ids))
    if k < len(ids):
        kth = scores[np.argpartition(-scores, k - 1)[:k]].min()
        cand = np.flatnonzero(scores >= kth)
    best = sorted(cand.tolist(), key=lambda i: (-scores[i], ids[i]))[:k]
    return [(ids[i], float(scores[i])) for i in best]


class SQLiteStore:
    """A contract store in one SQLite database (``store.db`` and its WAL) in ``path``.

    Durability: every completed put/remove is durable (each is a committed transaction
    synced by the engine: WAL with ``synchronous=FULL``). ``flush()`` only checks the store
    is open. Linearizable: one connection, every call under one lock. ``open()`` runs
    ``PRAGMA integrity_check`` and checks every row's shape: O(records).

    Stats, by this store's definitions: ``capacity`` is the record count (rows are
    allocated on demand); ``content_live_bytes`` the sum of content lengths;
    ``content_allocated_bytes`` the database's pages (``page_count * page_size``: ids,
    embeddings and content); ``fragmentation`` is ``freelist_count / page_count``.
    ``compact()`` is ``VACUUM`` plus a WAL checkpoint; its figures are those pages.
    """

    failpoint_names: ClassVar[tuple[str, ...]] = ()
    crash_promise: ClassVar[str] = "no-loss"
    known_gaps: ClassVar[dict[str, str]] = {}
    #: Applied to every connection; subclasses change durability here.
    pragmas: ClassVar[tuple[tuple[str, str], ...]] = (
        ("journal_mode", "WAL"), ("synchronous", "FULL"))

    def __init__(self, directory: str, lock_fd: int, db: sqlite3.Connection, dim: int,
                 max_content: int) -> None:  # use create() or open()
        self._path, self._lock_fd, self._db = directory, lock_fd, db
        self._dim, self._max_content = dim, max_content
        self._lock = self._make_lock()
        self._closed = False

    # -- hooks for subclasses -------------------------------------------------------

    def _make_lock(self) -> contextlib.AbstractContextManager[Any]:
        return threading.Lock()

    def _conn(self) -> sqlite3.Connection:
        """The connection for the calling thread."""
        return self._db

    @classmethod
    def _connect(cls, db_path: str, mode: str) -> sqlite3.Connection:
        uri = f"file:{urllib.parse.quote(db_path)}?mode={mode}"
        db = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        try:
            for name, value in cls.pragmas:
                db.execute(f"PRAGMA {name}={value}").fetchall()
        except BaseException:
            db.close()
            raise
        return db

    # -- lifecycle ------------------------------------------------------------------

    @classmethod
    def create(cls, path: str | os.PathLike[str], dim: int, *,
               max_content: int = DEFAULT_MAX_CONTENT) -> SQLiteStore:
        """A new store in ``path`` (absent or an empty directory)."""
        for name, value, low in (("dim", dim, 1), ("max_content", max_content, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise InvalidArgumentError(f"{name} must be an int >= {low}; got {value!r}")
        directory = os.path.abspath(os.fspath(path))
        if os.path.lexists(directory) and (not os.path.isdir(directory) or os.listdir(directory)):
            raise InvalidArgumentError(f"{directory} is not an empty directory; create needs one")
        os.makedirs(directory, exist_ok=True)
        lock_fd = lock_directory(directory)
        db = None
        try:
            db = cls._connect(os.path.join(directory, DB_NAME), "rwc")
            with db:
                db.execute("BEGIN")
                for statement in _SCHEMA:
                    db.execute(statement)
                db.executemany("INSERT INTO meta VALUES (?, ?)", (
                    ("format", FORMAT), ("dim", dim), ("max_content", max_content)))
        except BaseException as exc:
            if db is not None:
                db.close()
            os.close(lock_fd)
            if isinstance(exc, sqlite3.Error):
                raise _translate(exc, f"create {directory}") from exc
            raise
        return cls(directory, lock_fd, db, dim, max_content)

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> SQLiteStore:
        """The store in ``path``; SQLite rolls back or replays its WAL."""
        directory = os.path.abspath(os.fspath(path))
        if not os.path.exists(directory):
            raise FileNotFoundError(errno.ENOENT, "no store at this path", directory)
        db_path = os.path.join(directory, DB_NAME)
        if not os.path.isfile(db_path):
            raise CorruptionError(f"{directory} holds no {DB_NAME}; not a SQLite store")
        lock_fd = lock_directory(directory)
        db = None
        try:
            db = cls._connect(db_path, "rw")
            meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
            dim, max_content = meta.get("dim"), meta.get("max_content")
            if meta.get("format") != FORMAT or not isinstance(dim, int) or dim < 1 \
                    or not isinstance(max_content, int) or max_content < 0:
                raise CorruptionError(f"{db_path}: bad meta table {meta!r}")
            problems = _violations(db, dim)
            if problems:
                raise CorruptionError(f"{db_path}: {problems[0]}", problems)
        except BaseException as exc:
            if db is not None:
                db.close()
            os.close(lock_fd)
            if isinstance(exc, sqlite3.Error):
                raise CorruptionError(f"{db_path}: {exc}") from exc
            raise
        return cls(directory, lock_fd, db, dim, max_content)

    def close(self) -> None:
        """Close the connection (SQLite checkpoints the WAL) and unlock. Twice is fine."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                self._db.close()
            finally:
                os.close(self._lock_fd)

    def __del__(self) -> None:
        if not getattr(self, "_closed", True):
            self._closed = True
            with contextlib.suppress(Exception):
                self._db.close()
            with contextlib.suppress(Exception):
                os.close(self._lock_fd)

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _use(self, what: str) -> Iterator[sqlite3.Connection]:
        """Under the lock, the store open, engine errors turned into contract errors."""
        with self._lock:
            if self._closed:
                raise StoreClosedError(f"the store at {self._path} is closed")
            try:
                yield self._conn()
            except sqlite3.Error as exc:
                raise _translate(exc, what) from exc

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def path(self) -> str:
        return self._path

    # -- records --------------------------------------------------------------------

    def put(self, id: str, embedding: Any, content: bytes | str, confidence: float = 1.0) -> None:
        validate_id(id)
        emb = validate_embedding(embedding, self._dim)
        data = validate_content(content, self._max_content)
        conf = validate_confidence(confidence)
        with self._use("put") as db:
            db.execute("INSERT OR REPLACE INTO records VALUES (?, ?, ?, ?)",
                       (id, emb.astype("<f4").tobytes(), data, conf))

    def get(self, id: str) -> Record | None:
        validate_id(id)
        with self._use("get") as db:
            row = db.execute("SELECT embedding, content, confidence FROM records WHERE id = ?",
                             (id,)).fetchone()
        return None if row is None else self._record(id, *row)

    def _record(self, id: str, embedding: bytes, content: bytes, confidence: float) -> Record:
        if len(embedding) != 4 * self._dim:
            raise CorruptionError(f"record {id!r}: embedding of {len(embedding)} bytes")
        emb = np.frombuffer(embedding, "<f4").astype(np.float32)
        return Record(id, emb, bytes(content), float(np.float32(confidence)))

    def remove(self, id: str) -> bool:
        validate_id(id)
        with self._use("remove") as db:
            return db.execute("DELETE FROM records WHERE id = ?", (id,)).rowcount > 0

    def __len__(self) -> int:
        with self._use("len") as db:
            return int(db.execute("SELECT count(*) FROM records").fetchone()[0])

    def __contains__(self, id: object) -> bool:
        validate_id(id)
        with self._use("contains") as db:
            return db.execute("SELECT 1 FROM records WHERE id = ?", (id,)).fetchone() is not None

    def ids(self) -> list[str]:
        with self._use("ids") as db:
            return [row[0] for row in db.execute("SELECT id FROM records")]

    def scan(self, batch_size: int = 1024) -> Iterator[Record]:
        """Weakly consistent: the ids live now, each read by ``get`` (removed ones skipped).
        ``batch_size`` is validated; records are read one at a time."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidArgumentError(f"batch_size must be a positive int; got {batch_size!r}")
        names = self.ids()
        return (rec for rec in map(self.get, names) if rec is not None)

    def search(self, query: Any, k: int = 10) -> list[tuple[str, float]]:
        q = validate_query(query, self._dim)
        k = validate_k(k)
        with self._use("search") as db:
            rows = db.execute("SELECT id, embedding FROM records").fetchall()
        if not rows:
            return []
        matrix = np.frombuffer(b"".join(r[1] for r in rows), "<f4").reshape(len(rows), self._dim)
        return top_k([r[0] for r in rows], matrix, q, k)

    # -- maintenance ----------------------------------------------------------------

    def flush(self) -> None:
        """Every commit is already synced (WAL, synchronous=FULL): nothing to do."""
        with self._use("flush"):
            pass

    def compact(self) -> CompactionStats:
        """``VACUUM`` and a truncating WAL checkpoint; figures in database page bytes."""
        with self._use("compact") as db:
            before = _pages(db)[0]
            db.execute("VACUUM")
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            after = _pages(db)[0]
            moved = int(db.execute("SELECT count(*) FROM records").fetchone()[0])
        return CompactionStats(bytes_before=before, bytes_after=after,
                               bytes_reclaimed=before - after, records_moved=moved)

    def stats(self) -> StoreStats:
        with self._use("stats") as db:
            count, live = db.execute(
                "SELECT count(*), coalesce(sum(length(content)), 0) FROM records").fetchone()
            allocated, pages, free = _pages(db)
        return StoreStats(records=count, capacity=count, content_live_bytes=live,
                          content_allocated_bytes=allocated,
                          fragmentation=free / pages if pages else 0.0,
                          content_file_bytes=allocated,
                          extra={"page_count": pages, "freelist_count": free,
                                 "page_size": allocated // pages if pages else 0})

    def check(self) -> None:
        """``PRAGMA integrity_check`` and every row's shape; CorruptionError names each problem."""
        with self._use("check") as db:
            problems = _violations(db, self._dim)
        if problems:
            raise CorruptionError(f"{self._path}: {len(problems)} problem(s)", problems)

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"dim={self._dim}"
        return f"<{type(self).__name__} {self._path} {state}>"


def _pages(db: sqlite3.Connection) -> tuple[int, int, int]:
    """(page bytes, page_count, freelist_count) of the database."""
    size = int(db.execute("PRAGMA page_size").fetchone()[0])
    pages = int(db.execute("PRAGMA page_count").fetchone()[0])
    free = int(db.execute("PRAGMA freelist_count").fetchone()[0])
    return pages * size, pages, free


def _violations(db: sqlite3.Connection, dim: int) -> list[str]:
    problems = [row[0] for row in db.execute("PRAGMA integrity_check") if row[0] != "ok"]
    bad = int(db.execute(_BAD_ROWS, (4 * dim,)).fetchone()[0])
    if bad:
        problems.append(f"{bad} row(s) with a bad id, embedding, content or confidence")
    for rid, embedding in db.execute("SELECT id, embedding FROM records"):
        if len(embedding) == 4 * dim and not np.isfinite(np.frombuffer(embedding, "<f4")).all():
            problems.append(f"record {rid!r}: non-finite embedding")
    return problems
