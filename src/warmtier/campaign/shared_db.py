"""The shared failure database on a Redis server: the URL, the start-up check, and a
Hypothesis example database that falls back to the local one if the server goes away.

The URL comes from ``--shared-db`` or ``$WARMTIER_SHARED_DB``. Campaign shards and CI write
to it (``$WARMTIER_SHARED_DB_WRITE=1``: ``MultiplexedDatabase(local, shared)``); anyone else
only reads it (``MultiplexedDatabase(local, ReadOnlyDatabase(shared))``). Writes made while
the server is down are journalled under ``.warmtier/pending/`` and pushed by the next run.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import uuid
import warnings
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from hypothesis.database import ExampleDatabase, MultiplexedDatabase, ReadOnlyDatabase

__all__ = [
    "CHECKED_ENV",
    "SHARED_ENV",
    "STATE_ENV",
    "WRITE_ENV",
    "FallbackDatabase",
    "SharedDatabaseError",
    "SharedDatabaseWarning",
    "check",
    "connect",
    "is_redis_url",
    "push_pending_examples",
    "redact",
    "state_dir",
    "team_database",
]

SHARED_ENV = "WARMTIER_SHARED_DB"
WRITE_ENV = "WARMTIER_SHARED_DB_WRITE"
CHECKED_ENV = "WARMTIER_SHARED_DB_CHECKED"  # the campaign checked it at its start
STATE_ENV = "WARMTIER_STATE_DIR"
#: Counterexamples stay in Redis this long after they were last saved or read.
EXPIRE = timedelta(days=90)
_TIMEOUT = 3.0


class SharedDatabaseError(Exception):
    """The shared database cannot be used at the start of a run (the message names it)."""


class SharedDatabaseWarning(UserWarning):
    """The shared database went away during a run; the run goes on with the local one."""


def is_redis_url(value: str) -> bool:
    """``redis://``, ``rediss://`` or ``unix://`` URLs name a Redis server."""
    return value.startswith(("redis://", "rediss://", "unix://"))


def redact(url: str) -> str:
    """The URL without its password, for messages.

    >>> redact("redis://:s3cret@db.example:6379/2")
    'redis://:***@db.example:6379/2'
    """
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def state_dir() -> Path:
    """Where local copies and pending writes live: ``$WARMTIER_STATE_DIR`` or ``.warmtier``."""
    return Path(os.environ.get(STATE_ENV, ".warmtier"))


def connect(url: str) -> Any:
    """A Redis client for ``url`` with short timeouts (no connection is made yet)."""
    import redis

    return redis.Redis.from_url(url, socket_timeout=_TIMEOUT, socket_connect_timeout=_TIMEOUT)


def check(url: str) -> Any:
    """A connected client, or :class:`SharedDatabaseError` naming the URL and the fixes."""
    try:
        import redis
    except ImportError as exc:
        raise SharedDatabaseError(
            f"shared failure database {redact(url)}: the 'redis' package is missing "
            "(pip install 'warmtier[test]' or pip install redis)") from exc
    client = connect(url)
    try:
        client.ping()
    except (redis.exceptions.RedisError, OSError) as exc:
        raise SharedDatabaseError(
            f"shared failure database {redact(url)} is unreachable ({exc}); start the "
            f"server, correct --shared-db / ${SHARED_ENV}, or unset it to run with the "
            "local database alone") from exc
    return client


def _errors() -> tuple[type[BaseException], ...]:
    import redis

    return (redis.exceptions.RedisError, OSError)


class FallbackDatabase(ExampleDatabase):
    """The Redis example database until the server fails; then one warning, no reads, and
    every write journalled locally for :func:`push_pending_examples`.

    ``FallbackDatabase("redis://127.0.0.1:1/0").save(b"k", b"v")`` (nothing listens on
    port 1) warns once and appends the write to ``.warmtier/pending/examples-<pid>.jsonl``.
    """

    def __init__(self, url: str, pending: Path | None = None) -> None:
        super().__init__()
        self.url = url
        self.pending = pending if pending is not None else state_dir() / "pending"
        self.down = False
        self._inner: Any = None

    def __repr__(self) -> str:
        return f"FallbackDatabase({redact(self.url)!r}{', down' if self.down else ''})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FallbackDatabase) and other.url == self.url

    def __hash__(self) -> int:
        return hash(self.url)

    def _db(self) -> Any:
        if self._inner is None:
            from hypothesis.extra.redis import RedisExampleDatabase

            self._inner = RedisExampleDatabase(connect(self.url), expire_after=EXPIRE)
        return self._inner

    def _went_away(self, exc: BaseException) -> None:
        if not self.down:
            self.down = True
            warnings.warn(SharedDatabaseWarning(
                f"shared failure database {redact(self.url)} went away ({exc}); going on "
                f"with the local database; writes are kept in {self.pending} and pushed "
                "at the next run"), stacklevel=3)

    def _journal(self, op: str, *values: bytes) -> None:
        self.pending.mkdir(parents=True, exist_ok=True)
        line = json.dumps({"op": op, "args": [base64.b64encode(v).decode() for v in values]})
        with open(self.pending / f"examples-{os.getpid()}.jsonl", "a", encoding="utf-8") as f:
            f.write(line + "\n")

    def fetch(self, key: bytes) -> Iterable[bytes]:
        if self.down:
            return
        try:
            found = list(self._db().fetch(key))
        except _errors() as exc:
            self._went_away(exc)
            return
        yield from found

    def _write(self, op: str, *values: bytes) -> None:
        if not self.down:
            try:
                getattr(self._db(), op)(*values)
                return
            except _errors() as exc:
                self._went_away(exc)
        self._journal(op, *values)

    def save(self, key: bytes, value: bytes) -> None:
        self._write("save", key, value)

    def delete(self, key: bytes, value: bytes) -> None:
        self._write("delete", key, value)

    def move(self, src: bytes, dest: bytes, value: bytes) -> None:
        self._write("move", src, dest, value)


def push_pending_examples(url: str, pending: Path | None = None) -> int:
    """Apply the journalled writes to the server at ``url``; return how many were pushed.

    A journal is removed only once all of its writes went through.
    """
    from hypothesis.extra.redis import RedisExampleDatabase

    where = pending if pending is not None else state_dir() / "pending"
    db = RedisExampleDatabase(connect(url), expire_after=EXPIRE)
    pushed = 0
    for journal in sorted(where.glob("examples-*.jsonl")):
        # claim it first, so two runs starting together do not push it twice
        claimed = journal.with_name(f"{journal.stem}.pushing-{uuid.uuid4().hex[:6]}")
        try:
            journal.rename(claimed)
        except OSError:
            continue
        try:
            for line in claimed.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    entry = json.loads(line)
                    getattr(db, entry["op"])(*(base64.b64decode(a) for a in entry["args"]))
                    pushed += 1
        except BaseException:
            claimed.rename(journal)
            raise
        with contextlib.suppress(OSError):
            claimed.unlink()
    return pushed


def team_database(local: ExampleDatabase, url: str) -> ExampleDatabase:
    """``local`` with the shared database at ``url``: written when ``$WARMTIER_SHARED_DB_WRITE``
    is 1 (CI, campaign shards), else read only (a developer's run)."""
    shared = FallbackDatabase(url)
    if os.environ.get(WRITE_ENV) == "1":
        return MultiplexedDatabase(local, shared)
    return MultiplexedDatabase(local, ReadOnlyDatabase(shared))
