"""SQLite from the standard library, WAL mode, ``synchronous=NORMAL`` (durable at a
checkpoint: our ``flush``): autocommit (one transaction per put) or batched."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from typing import ClassVar

import numpy as np

from benchmarks.peers.base import Peer, Row, Vec, cosine, top_k

DB = "store.db"


class SqliteAutocommit(Peer):
    name: ClassVar[str] = "sqlite (autocommit)"
    family: ClassVar[str] = "sqlite"

    def __init__(self, path: str, dim: int) -> None:
        super().__init__(path, dim)
        self.db = sqlite3.connect(f"{path}/{DB}", isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS rec (id TEXT PRIMARY KEY, emb BLOB NOT NULL, "
            "content BLOB NOT NULL)"
        )

    @classmethod
    def version(cls) -> str:
        return f"SQLite {sqlite3.sqlite_version}"

    @classmethod
    def create(cls, path: str, dim: int) -> Peer:
        import os

        os.makedirs(path, exist_ok=True)
        return cls(path, dim)

    @classmethod
    def open(cls, path: str, dim: int) -> Peer:
        return cls(path, dim)

    def put(self, id: str, emb: Vec, content: bytes) -> None:
        self.db.execute("INSERT OR REPLACE INTO rec VALUES (?, ?, ?)", (id, emb.tobytes(), content))

    def put_many(self, rows: list[Row]) -> None:
        self.db.execute("BEGIN")
        self.db.executemany(
            "INSERT OR REPLACE INTO rec VALUES (?, ?, ?)",
            [(id, emb.tobytes(), content) for id, emb, content in rows],
        )
        self.db.execute("COMMIT")

    def get(self, id: str) -> tuple[Vec, bytes] | None:
        row = self.db.execute("SELECT emb, content FROM rec WHERE id = ?", (id,)).fetchone()
        if row is None:
            return None
        return np.frombuffer(row[0], np.float32).copy(), bytes(row[1])

    def remove(self, id: str) -> bool:
        return self.db.execute("DELETE FROM rec WHERE id = ?", (id,)).rowcount > 0

    def remove_many(self, ids: Iterable[str]) -> None:
        self.db.execute("BEGIN")
        self.db.executemany("DELETE FROM rec WHERE id = ?", [(i,) for i in ids])
        self.db.execute("COMMIT")

    def scan(self) -> Iterator[Row]:
        for id, emb, content in self.db.execute("SELECT id, emb, content FROM rec"):
            yield id, np.frombuffer(emb, np.float32).copy(), bytes(content)

    def search(self, query: Vec, k: int = 10) -> list[tuple[str, float]]:
        (n,) = self.db.execute("SELECT count(*) FROM rec").fetchone()
        matrix = np.empty((n, self.dim), np.float32)
        ids: list[str] = []
        for j, (id, emb) in enumerate(self.db.execute("SELECT id, emb FROM rec")):
            matrix[j] = np.frombuffer(emb, np.float32)
            ids.append(id)
        return top_k(ids, cosine(matrix[: len(ids)], query), k)

    def compact(self) -> None:
        self.db.execute("VACUUM")
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def flush(self) -> None:
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        self.db.close()


class SqliteBatched(SqliteAutocommit):
    name: ClassVar[str] = "sqlite (batched)"
    batched: ClassVar[bool] = True
