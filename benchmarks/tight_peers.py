"""The peers of the tight harness, each with its own timed loops.

Every loop holds exactly one timer pair per operation and nothing else: inputs are
prepared in each peer's native form before timing (ids as ``str`` for warmtier, keys and
values as ``bytes`` for LMDB, tuples for SQLite), and what sits between the timer reads
is the code a user of that store would write for the operation, nothing more.

What each peer's operation is, exactly:

- warmtier: ``store.put(id, emb, content)``, ``store.get(id)`` (a ``Record``),
  ``store.remove(id)``, ``for r in store.scan()``; ``put_many(rows)`` per batch. The store
  is created for the run's records (``initial_capacity``, ``initial_content_bytes``), as
  LMDB gets its map size and the floor its files; ``--grow`` starts it at its defaults.
- lmdb: ``writemap=True, sync=False, metasync=False``; put is
  ``with env.begin(write=True) as t: t.put(key, value)`` (one transaction per put);
  get is ``with env.begin() as t: raw = t.get(key)`` then the embedding as
  ``np.frombuffer(raw, float32, dim)`` and the content as ``raw[4 * dim:]`` (the two
  values warmtier's Record carries); the batch is one write transaction.
- sqlite: WAL, ``synchronous=NORMAL``; batches are one ``executemany`` in one
  transaction; get is one ``SELECT`` plus the same decoding as LMDB.
- memmap (the floor): a preallocated numpy memmap matrix and content arena with a dict
  index; no checksums, no lock, no validation, no crash safety.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

Vec = npt.NDArray[np.float32]
Lat = list[int]
F32 = np.dtype(np.float32)
#: Content bytes a record is given when a store is sized for the run (the mean is ~243).
CONTENT_BYTES = 512


class TightPeer:
    """One store under the tight harness. ``put_loop``/``get_loop``/``remove_loop`` time
    each operation into ``lat`` (nanoseconds); the inputs come from ``prepare_*``."""

    name: ClassVar[str] = "?"
    batch: ClassVar[bool] = False  # measures put_many instead of put
    reads: ClassVar[bool] = True  # takes part in get, remove, scan, search, open

    def __init__(self, path: str, dim: int, capacity: int) -> None:
        self.path, self.dim, self.capacity = path, dim, capacity
        os.makedirs(path, exist_ok=True)

    @classmethod
    def version(cls) -> str:
        return "?"

    def prepare_put(self, ids: Sequence[str], embs: Vec, contents: Sequence[bytes]) -> list[Any]:
        return [(ids[i], embs[i], contents[i]) for i in range(len(ids))]

    def prepare_keys(self, ids: Sequence[str]) -> list[Any]:
        return list(ids)

    def put_loop(self, items: list[Any], lat: Lat) -> None:
        raise NotImplementedError

    def put_batch(self, items: list[Any]) -> None:
        raise NotImplementedError

    def get_loop(self, keys: list[Any], lat: Lat) -> None:
        raise NotImplementedError

    def remove_loop(self, keys: list[Any], lat: Lat) -> None:
        raise NotImplementedError

    def scan(self) -> int:
        raise NotImplementedError

    def search(self, query: Vec, k: int) -> Any:
        raise NotImplementedError

    def flush(self) -> None:
        pass

    def reopen(self) -> None:
        """Close and open again (the next call is the first after open)."""
        raise NotImplementedError

    def close(self) -> None:
        pass


def empty_loop(items: list[Any], lat: Lat) -> None:
    """The harness alone: the same loop and timer pair with no operation inside."""
    clock, app = time.perf_counter_ns, lat.append
    for _item in items:
        s = clock()
        app(clock() - s)


class WarmtierPeer(TightPeer):
    name: ClassVar[str] = "warmtier"
    #: Start from the store's default size and grow (``--grow``), instead of being told
    #: the record count as the other peers are (LMDB's map size, the floor's files).
    grow: ClassVar[bool] = False

    def __init__(self, path: str, dim: int, capacity: int) -> None:
        super().__init__(path, dim, capacity)
        from benchmarks.peers.warmtier_peer import _store_class

        self.cls = _store_class()
        self.store = self.cls.create(path + "/s", dim=dim, **self.sizes(self.cls, capacity))

    @classmethod
    def sizes(cls, store_class: Any, capacity: int) -> dict[str, int]:
        """``create``'s size options for ``capacity`` records, where it takes them."""
        takes = inspect.signature(store_class.create).parameters
        if cls.grow or "initial_capacity" not in takes:
            return {}
        return {"initial_capacity": capacity, "initial_content_bytes": capacity * CONTENT_BYTES}

    @classmethod
    def version(cls) -> str:
        from benchmarks.peers.warmtier_peer import Warmtier

        return Warmtier.version()

    def put_loop(self, items: list[Any], lat: Lat) -> None:
        clock, app, put = time.perf_counter_ns, lat.append, self.store.put
        for id, emb, content in items:
            s = clock()
            put(id, emb, content)
            app(clock() - s)

    def put_batch(self, items: list[Any]) -> None:
        self.store.put_many(items)

    def get_loop(self, keys: list[Any], lat: Lat) -> None:
        clock, app, get = time.perf_counter_ns, lat.append, self.store.get
        for id in keys:
            s = clock()
            get(id)
            app(clock() - s)

    def remove_loop(self, keys: list[Any], lat: Lat) -> None:
        clock, app, remove = time.perf_counter_ns, lat.append, self.store.remove
        for id in keys:
            s = clock()
            remove(id)
            app(clock() - s)

    def scan(self) -> int:
        n = 0
        for _rec in self.store.scan():
            n += 1
        return n

    def search(self, query: Vec, k: int) -> Any:
        return self.store.search(query, k)

    def flush(self) -> None:
        self.store.flush()

    def reopen(self) -> None:
        self.store.close()
        self.store = self.cls.open(self.path + "/s")

    def close(self) -> None:
        self.store.close()


class WarmtierBaseline(WarmtierPeer):
    """Another build of the store (``$WARMTIER_BASELINE=module:Class``, e.g. the last
    commit's store.py saved aside), measured in the same run for a before/after ratio."""

    name: ClassVar[str] = "warmtier baseline"

    def __init__(self, path: str, dim: int, capacity: int) -> None:
        TightPeer.__init__(self, path, dim, capacity)
        module, _, attr = os.environ["WARMTIER_BASELINE"].partition(":")
        self.cls = getattr(importlib.import_module(module), attr)
        self.store = self.cls.create(path + "/s", dim=dim, **self.sizes(self.cls, capacity))


class WarmtierBatch(WarmtierPeer):
    name: ClassVar[str] = "warmtier put_many"
    batch: ClassVar[bool] = True
    reads: ClassVar[bool] = False  # the same store as "warmtier" for everything else


class LmdbPeer(TightPeer):
    name: ClassVar[str] = "lmdb writemap"

    def __init__(self, path: str, dim: int, capacity: int) -> None:
        super().__init__(path, dim, capacity)
        self.env = self._open()
        self.width = 4 * dim

    def _open(self) -> Any:
        import lmdb

        return lmdb.open(self.path, map_size=1 << 38, writemap=True, sync=False,
                         metasync=False, readahead=False, max_dbs=0)

    @classmethod
    def version(cls) -> str:
        import lmdb

        return f"py-lmdb {lmdb.__version__}, LMDB {'.'.join(map(str, lmdb.version()))}"

    def prepare_put(self, ids: Sequence[str], embs: Vec, contents: Sequence[bytes]) -> list[Any]:
        return [(ids[i].encode(), embs[i].tobytes() + contents[i]) for i in range(len(ids))]

    def prepare_keys(self, ids: Sequence[str]) -> list[Any]:
        return [i.encode() for i in ids]

    def put_loop(self, items: list[Any], lat: Lat) -> None:
        clock, app, begin = time.perf_counter_ns, lat.append, self.env.begin
        for key, value in items:
            s = clock()
            with begin(write=True) as txn:
                txn.put(key, value)
            app(clock() - s)

    def put_batch(self, items: list[Any]) -> None:
        with self.env.begin(write=True) as txn:
            put = txn.put
            for key, value in items:
                put(key, value)

    def get_loop(self, keys: list[Any], lat: Lat) -> None:
        clock, app, begin = time.perf_counter_ns, lat.append, self.env.begin
        frombuffer, dim, width = np.frombuffer, self.dim, self.width
        for key in keys:
            s = clock()
            with begin() as txn:
                raw = txn.get(key)
            frombuffer(raw, F32, dim), raw[width:]
            app(clock() - s)

    def remove_loop(self, keys: list[Any], lat: Lat) -> None:
        clock, app, begin = time.perf_counter_ns, lat.append, self.env.begin
        for key in keys:
            s = clock()
            with begin(write=True) as txn:
                txn.delete(key)
            app(clock() - s)

    def scan(self) -> int:
        n, frombuffer, dim, width = 0, np.frombuffer, self.dim, self.width
        with self.env.begin() as txn:
            for key, raw in txn.cursor():
                key.decode(), frombuffer(raw, F32, dim), raw[width:]
                n += 1
        return n

    def search(self, query: Vec, k: int) -> Any:
        with self.env.begin(buffers=True) as txn:
            n = txn.stat()["entries"]
            matrix = np.empty((n, self.dim), np.float32)
            ids: list[bytes] = []
            for j, (key, raw) in enumerate(txn.cursor()):
                matrix[j] = np.frombuffer(raw, np.float32, self.dim)
                ids.append(bytes(key))
        return _top(matrix, query, k, ids)

    def flush(self) -> None:
        self.env.sync(True)

    def reopen(self) -> None:
        self.env.close()
        self.env = self._open()

    def close(self) -> None:
        self.env.close()


class LmdbBatch(LmdbPeer):
    name: ClassVar[str] = "lmdb one txn/batch"
    batch: ClassVar[bool] = True
    reads: ClassVar[bool] = False


class SqlitePeer(TightPeer):
    name: ClassVar[str] = "sqlite WAL batched"
    batch: ClassVar[bool] = True

    def __init__(self, path: str, dim: int, capacity: int) -> None:
        super().__init__(path, dim, capacity)
        self.db = self._open()
        self.db.execute("CREATE TABLE IF NOT EXISTS rec (id TEXT PRIMARY KEY, emb BLOB NOT "
                        "NULL, content BLOB NOT NULL)")
        self.width = 4 * dim

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path + "/db", isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        return db

    @classmethod
    def version(cls) -> str:
        return f"SQLite {sqlite3.sqlite_version}"

    def prepare_put(self, ids: Sequence[str], embs: Vec, contents: Sequence[bytes]) -> list[Any]:
        return [(ids[i], embs[i].tobytes(), contents[i]) for i in range(len(ids))]

    def put_batch(self, items: list[Any]) -> None:
        self.db.execute("BEGIN")
        self.db.executemany("INSERT OR REPLACE INTO rec VALUES (?, ?, ?)", items)
        self.db.execute("COMMIT")

    def get_loop(self, keys: list[Any], lat: Lat) -> None:
        clock, app, execute = time.perf_counter_ns, lat.append, self.db.execute
        frombuffer, sql = np.frombuffer, "SELECT emb, content FROM rec WHERE id = ?"
        for id in keys:
            s = clock()
            emb, _content = execute(sql, (id,)).fetchone()
            frombuffer(emb, F32)
            app(clock() - s)

    def remove_loop(self, keys: list[Any], lat: Lat) -> None:
        clock, app, execute = time.perf_counter_ns, lat.append, self.db.execute
        sql = "DELETE FROM rec WHERE id = ?"
        for id in keys:
            s = clock()
            execute(sql, (id,))
            app(clock() - s)

    def scan(self) -> int:
        n, frombuffer = 0, np.frombuffer
        for _id, emb, _content in self.db.execute("SELECT id, emb, content FROM rec"):
            frombuffer(emb, F32)
            n += 1
        return n

    def search(self, query: Vec, k: int) -> Any:
        ids, matrix = [], []
        for id, emb in self.db.execute("SELECT id, emb FROM rec"):
            ids.append(id)
            matrix.append(np.frombuffer(emb, F32))
        return _top(np.stack(matrix), query, k, ids)

    def flush(self) -> None:
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def reopen(self) -> None:
        self.db.close()
        self.db = self._open()

    def close(self) -> None:
        self.db.close()


class MemmapFloor(TightPeer):
    name: ClassVar[str] = "numpy memmap (floor)"

    def __init__(self, path: str, dim: int, capacity: int) -> None:
        super().__init__(path, dim, capacity)
        self.arena_size = capacity * 8192 + (1 << 20)
        for name, size in (("emb", capacity * dim * 4), ("arena", self.arena_size)):
            with open(f"{path}/{name}", "wb") as f:
                f.truncate(size)
        self.index: dict[str, tuple[int, int, int]] = {}
        self.next_row = self.tail = 0
        self._map()

    def _map(self) -> None:
        self.mm: Any = np.memmap(self.path + "/emb", F32, "r+", shape=(self.capacity, self.dim))
        self.amm: Any = np.memmap(self.path + "/arena", np.uint8, "r+", shape=(self.arena_size,))
        # plain ndarray views: np.memmap's own indexing runs Python code per call
        self.mat, self.arena = self.mm.view(np.ndarray), self.amm.view(np.ndarray)
        self.arena_mv = memoryview(self.arena)

    @classmethod
    def version(cls) -> str:
        return f"numpy {np.__version__}"

    def put_loop(self, items: list[Any], lat: Lat) -> None:
        clock, app, mat, mv, index = time.perf_counter_ns, lat.append, self.mat, self.arena_mv, \
            self.index
        row, tail = self.next_row, self.tail
        for id, emb, content in items:
            s = clock()
            mat[row] = emb
            n = len(content)
            mv[tail : tail + n] = content
            index[id] = (row, tail, n)
            row += 1
            tail += n
            app(clock() - s)
        self.next_row, self.tail = row, tail

    def get_loop(self, keys: list[Any], lat: Lat) -> None:
        clock, app, mat, mv, index = time.perf_counter_ns, lat.append, self.mat, self.arena_mv, \
            self.index
        for id in keys:
            s = clock()
            row, off, n = index[id]
            mat[row].copy(), mv[off : off + n].tobytes()
            app(clock() - s)

    def remove_loop(self, keys: list[Any], lat: Lat) -> None:
        clock, app, pop = time.perf_counter_ns, lat.append, self.index.pop
        for id in keys:
            s = clock()
            pop(id, None)
            app(clock() - s)

    def scan(self) -> int:
        n, mat, mv = 0, self.mat, self.arena_mv
        for _id, (row, off, size) in list(self.index.items()):
            mat[row].copy(), mv[off : off + size].tobytes()
            n += 1
        return n

    def search(self, query: Vec, k: int) -> Any:
        q = query / np.float32(np.linalg.norm(query))
        scores = np.asarray(self.mat[: self.next_row]) @ q
        return np.argpartition(-scores, k - 1)[:k]

    def flush(self) -> None:
        self.mm.flush()
        self.amm.flush()

    def reopen(self) -> None:
        self.flush()
        self.arena_mv.release()
        del self.mat, self.arena, self.arena_mv, self.mm, self.amm
        self._map()

    def close(self) -> None:
        self.flush()


def _top(matrix: Vec, query: Vec, k: int, ids: Sequence[Any]) -> list[tuple[Any, float]]:
    q = query / np.float32(np.linalg.norm(query))
    scores = (matrix @ q) / np.linalg.norm(matrix, axis=1)
    top = np.argpartition(-scores, k - 1)[:k]
    return [(ids[i], float(scores[i])) for i in top.tolist()]


def peer_classes(names: str = "") -> list[type[TightPeer]]:
    """The peers that can run here, narrowed to ``names`` (comma list) when given."""
    out: list[type[TightPeer]] = [WarmtierPeer]
    from benchmarks.peers.warmtier_peer import _store_class

    if hasattr(_store_class(), "put_many"):
        out.append(WarmtierBatch)
    if os.environ.get("WARMTIER_BASELINE"):
        out.append(WarmtierBaseline)
    try:
        import lmdb  # noqa: F401

        out += [LmdbPeer, LmdbBatch]
    except ImportError:
        pass
    out += [SqlitePeer, MemmapFloor]
    if names:
        keep = {n.strip() for n in names.split(",")}
        out = [c for c in out if c.name in keep or c.name.split()[0] in keep]
    return out


Loop = Callable[[list[Any], Lat], None]
