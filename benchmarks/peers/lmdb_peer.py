"""py-lmdb: key = id, value = embedding bytes then content; one write transaction per
put, or one per batch. ``sync=False``: durable at ``env.sync()`` (our ``flush``)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Iterator
from typing import Any, ClassVar

import lmdb
import numpy as np

from benchmarks.peers.base import Peer, Row, Vec, cosine, top_k

MAP_SIZE = 1 << 38  # address space only; the file grows as written


class LmdbPerPut(Peer):
    name: ClassVar[str] = "lmdb (txn/put)"
    family: ClassVar[str] = "lmdb"

    def __init__(self, path: str, dim: int) -> None:
        super().__init__(path, dim)
        self.env: Any = lmdb.open(path, map_size=MAP_SIZE, sync=False, metasync=False,
                                  readahead=False, max_dbs=0, lock=True)
        self.width = 4 * dim

    @classmethod
    def version(cls) -> str:
        return f"py-lmdb {lmdb.__version__}, LMDB {'.'.join(map(str, lmdb.version()))}"

    @classmethod
    def create(cls, path: str, dim: int) -> Peer:
        os.makedirs(path, exist_ok=True)
        return cls(path, dim)

    @classmethod
    def open(cls, path: str, dim: int) -> Peer:
        return cls(path, dim)

    def put(self, id: str, emb: Vec, content: bytes) -> None:
        with self.env.begin(write=True) as txn:
            txn.put(id.encode(), emb.tobytes() + content)

    def put_many(self, rows: list[Row]) -> None:
        with self.env.begin(write=True) as txn:
            for id, emb, content in rows:
                txn.put(id.encode(), emb.tobytes() + content)

    def get(self, id: str) -> tuple[Vec, bytes] | None:
        with self.env.begin(buffers=True) as txn:
            raw = txn.get(id.encode())
            if raw is None:
                return None
            emb = np.frombuffer(raw, np.float32, self.dim).copy()
            return emb, bytes(raw[self.width :])

    def remove(self, id: str) -> bool:
        with self.env.begin(write=True) as txn:
            return bool(txn.delete(id.encode()))

    def remove_many(self, ids: Iterable[str]) -> None:
        with self.env.begin(write=True) as txn:
            for id in ids:
                txn.delete(id.encode())

    def scan(self) -> Iterator[Row]:
        width, dim = self.width, self.dim
        with self.env.begin(buffers=True) as txn:
            for key, raw in txn.cursor():
                emb = np.frombuffer(raw, np.float32, dim).copy()
                yield bytes(key).decode(), emb, bytes(raw[width:])

    def search(self, query: Vec, k: int = 10) -> list[tuple[str, float]]:
        # No vector index: read every embedding into one matrix, then one product.
        with self.env.begin(buffers=True) as txn:
            n = txn.stat()["entries"]
            matrix = np.empty((n, self.dim), np.float32)
            ids: list[str] = []
            for j, (key, raw) in enumerate(txn.cursor()):
                matrix[j] = np.frombuffer(raw, np.float32, self.dim)
                ids.append(bytes(key).decode())
        return top_k(ids, cosine(matrix, query), k)

    def compact(self) -> None:
        # LMDB reuses free pages but never shrinks: compaction is a compacting copy.
        tmp = self.path + ".compact"
        os.makedirs(tmp, exist_ok=True)
        self.env.copy(tmp, compact=True)
        self.env.close()
        for name in ("data.mdb",):
            os.replace(os.path.join(tmp, name), os.path.join(self.path, name))
        shutil.rmtree(tmp, ignore_errors=True)
        self.env = lmdb.open(self.path, map_size=MAP_SIZE, sync=False, metasync=False,
                             readahead=False, max_dbs=0)

    def flush(self) -> None:
        self.env.sync(True)

    def close(self) -> None:
        self.env.close()


class LmdbBatched(LmdbPerPut):
    name: ClassVar[str] = "lmdb (batched)"
    batched: ClassVar[bool] = True
