"""The contract over py-lmdb: one LMDB environment, one committed transaction per write.
A short, complete adapter to copy when writing a store for another engine.
"""

from __future__ import annotations

import errno
import importlib
import os
import shutil
import struct
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

import numpy as np

from warmtier import validation as v
from warmtier.adapters.base import EngineStore, existing_directory, new_directory, top_k
from warmtier.errors import CapacityError, CorruptionError, InvalidArgumentError
from warmtier.records import CompactionStats, Record, StoreStats

try:
    import lmdb
    # py-lmdb >= 3: a pure-Python walker that checks a file before the engine touches it
    verify_file: Callable[[str], list[str]] = importlib.import_module("lmdb.verify").verify
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("warmtier.adapters.lmdb needs py-lmdb 3 or newer: "
                      "pip install warmtier[lmdb]") from exc

__all__ = ["LMDBStore"]

DATA_NAME, COMPACT_DIR, FORMAT = "data.mdb", "compact.tmp", 1
_CONF = struct.Struct("<f")  # a value: confidence (float32), embedding (dim float32), content


class LMDBStore(EngineStore):
    """A contract store in one LMDB environment (``data.mdb``, ``lock.mdb``) in ``path``.

    Durability: every completed put/remove is durable (each is a committed transaction
    synced by the engine: ``sync=True, metasync=True``, no writemap); ``flush()`` is
    ``env.sync(True)``. Linearizable: every call runs under one lock, which also makes
    growing the map (``set_mapsize`` on ``MapFullError``) safe. ``open()`` first walks
    every page of ``data.mdb`` with py-lmdb's offline verifier, so a broken
    b-tree is a CorruptionError rather than a crash inside LMDB, then checks every record:
    O(pages). LMDB keeps no checksums: a flipped byte inside a value reads back changed.

    Stats, by this store's definitions: ``capacity`` is the record count;
    ``content_live_bytes`` the sum of content lengths (a scan); ``content_allocated_bytes``
    the file's pages up to the last in use; ``fragmentation`` the share of those pages that
    belong to no database (free pages, LMDB's freelist). ``compact()`` swaps ``data.mdb``
    for a compacting copy (``env.copy(compact=True)``, synced, renamed over it).
    """

    #: The batch calls of docs/contract-extensions.md, each one transaction.
    batch_calls: ClassVar[tuple[str, ...]] = ("put_many", "get_many", "remove_many",
                                              "search_many")

    engine_error = lmdb.Error
    #: Passed to ``lmdb.open``; subclasses change durability here.
    env_options: ClassVar[dict[str, Any]] = {
        "sync": True, "metasync": True, "writemap": False, "map_async": False, "lock": True}
    initial_map_size: ClassVar[int] = 1 << 26
    max_map_size: ClassVar[int] = 1 << 40

    def __init__(self, directory: str, lock_fd: int, meta: dict[str, int] | None) -> None:
        """Open the environment: a new one holding ``meta``, or the one there (meta None)."""
        self._open_env(directory, create=meta is not None)
        try:
            if meta is None:
                meta = self._read_meta(directory)
            else:
                with self._env.begin(write=True, db=self._meta) as txn:
                    for key, value in meta.items():
                        txn.put(key.encode(), str(value).encode())
        except BaseException:
            self._env.close()
            raise
        super().__init__(directory, lock_fd, meta["dim"], meta["max_content"])
        self._head = 4 + 4 * self._dim  # value bytes before the content

    def _open_env(self, directory: str, create: bool) -> None:
        self._env = lmdb.open(directory, map_size=self.initial_map_size, subdir=True,
                              max_dbs=2, create=create, **self.env_options)
        try:
            self._records = self._env.open_db(b"records", create=create)
            self._meta = self._env.open_db(b"meta", create=create)
        except BaseException:
            self._env.close()
            raise

    def _read_meta(self, directory: str) -> dict[str, int]:
        """The meta database, checked, and that ``data.mdb`` holds every page it uses."""
        size = (self._env.info()["last_pgno"] + 1) * self._env.stat()["psize"]
        with self._env.begin(db=self._meta) as txn:
            raw = {bytes(k).decode(errors="replace"): bytes(val) for k, val in txn.cursor()}
        try:
            meta = {key: int(raw[key]) for key in ("format", "dim", "max_content")}
        except (KeyError, ValueError):
            raise CorruptionError(f"{directory}: bad meta database {raw!r}") from None
        if meta["format"] != FORMAT or meta["dim"] < 1 or meta["max_content"] < 0 \
                or os.path.getsize(os.path.join(directory, DATA_NAME)) < size:
            raise CorruptionError(f"{directory}: bad meta database {raw!r} or a short file")
        return meta

    @classmethod
    def _translate(cls, exc: Exception, what: str) -> Exception:
        if isinstance(exc, lmdb.DiskError) or getattr(exc, "code", 0) in (errno.ENOSPC,
                                                                          errno.EDQUOT):
            return CapacityError(f"{what}: {exc}")
        if isinstance(exc, (lmdb.CorruptedError, lmdb.PageNotFoundError, lmdb.InvalidError)):
            return CorruptionError(f"{what}: {exc}")
        return exc

    def _close_engine(self) -> None:
        self._env.close()

    # -- lifecycle ------------------------------------------------------------------

    @classmethod
    def create(cls, path: str | os.PathLike[str], dim: int, *,
               max_content: int = v.DEFAULT_MAX_CONTENT) -> LMDBStore:
        """A new store in ``path`` (absent or an empty directory)."""
        directory = new_directory(path, dim, max_content)
        meta = {"format": FORMAT, "dim": dim, "max_content": max_content}

        def start(lock_fd: int) -> LMDBStore:
            store = cls(directory, lock_fd, meta)
            _fsync(directory)  # LMDB never syncs the directory: make the new names durable
            return store

        return cls._locked(directory, True, start)

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> LMDBStore:
        """The store in ``path`` (LMDB needs no recovery: the last synced meta page wins).
        Whatever the walker or the engine rejects, or a bad meta or record, is corrupt."""
        directory = existing_directory(path, DATA_NAME)

        def start(lock_fd: int) -> LMDBStore:
            shutil.rmtree(os.path.join(directory, COMPACT_DIR), ignore_errors=True)
            _verify_structure(directory)
            store = cls(directory, lock_fd, None)
            try:
                problems = store._violations()
                if problems:
                    raise CorruptionError(f"{directory}: {problems[0]}", problems)
            except BaseException:
                store._closed = True  # the engine only: _locked closes the LOCK
                store._env.close()
                raise
            return store

        return cls._locked(directory, False, start)

    def _write(self, body: Callable[[lmdb.Transaction], Any]) -> Any:
        """One write transaction; on MapFullError grow the map (doubling) and retry."""
        while True:
            try:
                with self._env.begin(write=True, db=self._records) as txn:
                    return body(txn)
            except lmdb.MapFullError:
                size = self._env.info()["map_size"] * 2
                if size > self.max_map_size:
                    raise CapacityError(f"the map would exceed {self.max_map_size} bytes") from None
                self._env.set_mapsize(size)

    # -- records --------------------------------------------------------------------

    def put(self, id: str, embedding: Any, content: bytes | str, confidence: float = 1.0) -> None:
        key, value = self._encode(id, embedding, content, confidence)
        with self._guard("put"):
            self._write(lambda txn: txn.put(key, value))

    def _encode(self, id: str, embedding: Any, content: Any, confidence: Any) -> tuple[bytes, bytes]:
        """A validated record as its key and value."""
        key = v.validate_id(id)
        emb = v.validate_embedding(embedding, self._dim).astype("<f4").tobytes()
        data = v.validate_content(content, self._max_content)
        return key, _CONF.pack(v.validate_confidence(confidence)) + emb + data

    def get(self, id: str) -> Record | None:
        key = v.validate_id(id)
        with self._guard("get"), self._env.begin(db=self._records) as txn:
            return self._decode(id, txn.get(key))

    def _decode(self, id: str, value: bytes | None) -> Record | None:
        if value is None:
            return None
        if len(value) < self._head:
            raise CorruptionError(f"record {id!r}: value of {len(value)} bytes")
        emb = np.frombuffer(value, "<f4", count=self._dim, offset=4)
        return Record(id, emb, value[self._head:], _CONF.unpack_from(value)[0])

    def remove(self, id: str) -> bool:
        key = v.validate_id(id)
        with self._guard("remove"):
            return bool(self._write(lambda txn: txn.delete(key)))

    def __len__(self) -> int:
        with self._guard("len"), self._env.begin() as txn:
            return int(txn.stat(self._records)["entries"])

    def __contains__(self, id: object) -> bool:
        key = v.validate_id(id)
        with self._guard("contains"), self._env.begin(db=self._records) as txn:
            return txn.get(key) is not None

    def ids(self) -> list[str]:
        with self._guard("ids"), self._env.begin(db=self._records) as txn:
            return [bytes(k).decode() for k in txn.cursor().iternext(values=False)]

    def search(self, query: Any, k: int = 10) -> list[tuple[str, float]]:
        q, k = v.validate_query(query, self._dim), v.validate_k(k)
        return top_k(*self._embeddings("search"), q, k)

    def _embeddings(self, what: str) -> tuple[list[str], Any]:
        """Every id and, row for row, its embedding, read in one transaction."""
        with self._guard(what), self._env.begin(db=self._records, buffers=True) as txn:
            pairs = [(bytes(key).decode(), bytes(val[4:self._head])) for key, val in txn.cursor()]
        matrix = np.frombuffer(b"".join(p[1] for p in pairs), "<f4").reshape(len(pairs), self._dim)
        return [p[0] for p in pairs], matrix

    # -- batch calls (docs/contract-extensions.md): one transaction each ------------

    def put_many(self, records: Iterable[Any]) -> None:
        """Every record in one write transaction: all of them, or on an error none (the
        extension allows a prefix; one transaction gives the empty one)."""
        rows = [self._encoded(j, record) for j, record in enumerate(records)]

        def body(txn: lmdb.Transaction) -> None:
            for key, value in rows:
                txn.put(key, value)

        with self._guard("put_many"):
            self._write(body)

    def _encoded(self, j: int, record: Any) -> tuple[bytes, bytes]:
        try:
            return self._encode(*v.record_fields(record))
        except InvalidArgumentError as exc:
            raise InvalidArgumentError(f"records[{j}]: {exc}") from None

    def get_many(self, ids: Iterable[str]) -> list[Record | None]:
        wanted = _keys(ids)
        with self._guard("get_many"), self._env.begin(db=self._records) as txn:
            return [self._decode(id, txn.get(key)) for id, key in wanted]

    def remove_many(self, ids: Iterable[str]) -> list[bool]:
        keys = [key for _, key in _keys(ids)]
        with self._guard("remove_many"):
            return list(self._write(lambda txn: [bool(txn.delete(key)) for key in keys]))

    def search_many(self, queries: Any, k: int = 10) -> list[list[tuple[str, float]]]:
        k = v.validate_k(k)
        qs = [v.validate_query(q, self._dim) for q in queries]
        ids, matrix = self._embeddings("search_many")
        return [top_k(ids, matrix, q, k) for q in qs]

    # -- maintenance ----------------------------------------------------------------

    def flush(self) -> None:
        """``env.sync(True)``: already durable, unless a subclass turns sync off."""
        with self._guard("flush"):
            self._env.sync(True)

    def compact(self) -> CompactionStats:
        """Swap ``data.mdb`` for a synced compacting copy; figures in file page bytes."""
        with self._guard("compact"):
            before, moved = self._pages()[0], len(self._lengths())
            tmp = os.path.join(self._path, COMPACT_DIR)
            shutil.rmtree(tmp, ignore_errors=True)
            os.mkdir(tmp)
            try:
                self._env.copy(tmp, compact=True)
                _fsync(os.path.join(tmp, DATA_NAME))
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            self._env.close()
            try:
                os.replace(os.path.join(tmp, DATA_NAME), os.path.join(self._path, DATA_NAME))
                _fsync(self._path)
                os.rmdir(tmp)
            finally:
                self._open_env(self._path, create=False)
            after = self._pages()[0]
        return CompactionStats(bytes_before=before, bytes_after=after,
                               bytes_reclaimed=before - after, records_moved=moved)

    def _pages(self) -> tuple[int, int, int]:
        """(bytes up to the last page in use, those pages, the ones of no database)."""
        psize, pages = self._env.stat()["psize"], self._env.info()["last_pgno"] + 1
        with self._env.begin() as txn:
            stats = [txn.stat(db) for db in (None, self._records, self._meta)]
        used = 2 + sum(s["branch_pages"] + s["leaf_pages"] + s["overflow_pages"] for s in stats)
        return pages * psize, pages, max(0, pages - used)

    def _lengths(self) -> list[int]:
        """The content length of every record, in one read transaction."""
        with self._env.begin(db=self._records, buffers=True) as txn:
            return [len(val) - self._head for val in txn.cursor().iternext(keys=False)]

    def stats(self) -> StoreStats:
        with self._guard("stats"):
            lengths = self._lengths()
            allocated, pages, free = self._pages()
        return StoreStats(records=len(lengths), capacity=len(lengths),
                          content_live_bytes=sum(lengths), content_allocated_bytes=allocated,
                          content_file_bytes=allocated, fragmentation=free / pages,
                          extra={"pages": pages, "free_pages": free})

    def check(self) -> None:
        """Every record's shape (there are no checksums); CorruptionError names each problem."""
        with self._guard("check"):
            problems = self._violations()
        if problems:
            raise CorruptionError(f"{self._path}: {len(problems)} problem(s)", problems)

    def _violations(self) -> list[str]:
        problems = []
        with self._env.begin(db=self._records) as txn:
            for key, value in txn.cursor():
                try:
                    ok = 0 < len(key) <= v.MAX_ID_BYTES and len(value) >= self._head and bool(
                        key.decode() and 0.0 <= _CONF.unpack_from(value)[0] <= 1.0
                        and np.isfinite(np.frombuffer(value, "<f4", self._dim, 4)).all())
                except UnicodeDecodeError:
                    ok = False
                if not ok:
                    problems.append(f"record {key!r}: bad id, embedding or confidence")
        return problems


def _keys(ids: Iterable[str]) -> list[tuple[str, bytes]]:
    """Each id with its key, every id validated first (an error names its position)."""
    out = []
    for j, id in enumerate(ids):
        try:
            out.append((id, v.validate_id(id)))
        except InvalidArgumentError as exc:
            raise InvalidArgumentError(f"ids[{j}]: {exc}") from None
    return out


def _verify_structure(directory: str) -> None:
    """Walk every page of ``data.mdb`` offline (values have no checksums to verify)."""
    try:
        problems = verify_file(directory)
    except Exception as exc:  # VerifyError, or the walker's own failure on hostile bytes
        raise CorruptionError(f"{directory}: {type(exc).__name__}: {exc}") from None
    if problems:
        raise CorruptionError(f"{directory}: {problems[0]}", problems)


def _fsync(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
