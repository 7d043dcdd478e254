"""The reference warm-tier store: slots and a content arena in memory-mapped files.

Write order makes every mutation all-or-nothing across a crash: content first, then the
slot body, then its sequence number (the publish). Space and slots freed since the last
durability point are reused only after the next one, so a power cut never exposes a
half-overwritten old version. ``check()`` states every invariant.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import math
import os
import struct
import threading
from collections.abc import Iterable, Iterator
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from warmtier.allocator import ExtentAllocator
from warmtier.batch_puts import Batch, BatchPuts
from warmtier.compaction import PAGE, Compaction, round_up
from warmtier.errors import (
    CapacityError,
    CorruptionError,
    InvalidArgumentError,
    StoreLockedError,
)
from warmtier.failpoints import failpoint
from warmtier.format import (
    CURRENT_NAME,
    HEADER_SIZE,
    ID_FIELD,
    ID_OFFSET,
    LOCK_NAME,
    MAX_DIM,
    SLOT_FIXED,
    Header,
    content_name,
    embeddings_name,
    slot_checksum,
    slot_dtype,
    slots_name,
    unpublished_slot_checksum,
    write_current,
)
from warmtier.invariants import Invariants
from warmtier.mapped import MappedFile
from warmtier.ranking import Ranking
from warmtier.records import Embedding, Record, StoreStats
from warmtier.recovery import Recovery, Verify
from warmtier.validation import (
    DEFAULT_MAX_CONTENT,
    record_fields,
    validate_confidence,
    validate_content,
    validate_embedding,
    validate_id,
    validate_k,
    validate_query,
)

__all__ = ["Verify", "WarmTierStore"]

_F32 = np.dtype("<f4")
_FIXED = struct.Struct("<IHHQQQfxxxxd")  # crc id_len flags seq off length confidence norm
_CRC = struct.Struct("<I")
_FIXED_HEAD = struct.Struct("<IHHQ")  # crc id_len flags seq
_SLOT3 = struct.Struct(f"{_FIXED.format}{ID_FIELD}s")  # the fields, then the id NUL-padded
_EXTENT = struct.Struct("<16xQQf")  # a slot's off, length and confidence
_F4 = struct.Struct("<f")


# Record's slot descriptors: set directly, they skip the frozen __setattr__ (half the cost
# of object.__setattr__ per field, measured).
_NEW = object.__new__
_SLOTS: dict[str, Any] = {name: vars(Record)[name].__set__ for name in Record.__slots__}
_SET_ID, _SET_EMB = _SLOTS["id"], _SLOTS["embedding"]
_SET_CONTENT, _SET_CONF = _SLOTS["content"], _SLOTS["confidence"]


def _make_record(id: str, embedding: Embedding, content: bytes, confidence: float) -> Record:
    """A Record from data this store already copied (skips the defensive copies)."""
    rec: Record = _NEW(Record)
    _SET_ID(rec, id)
    _SET_EMB(rec, embedding)
    _SET_CONTENT(rec, content)
    _SET_CONF(rec, confidence)
    return rec


def _unit(query: Embedding) -> npt.NDArray[np.float64]:
    """``query`` scaled to norm 1 in float64, the same way for ``search`` and each query of
    ``search_many`` (a norm over a matrix's rows sums in another order)."""
    q64 = query.astype(np.float64)
    unit: npt.NDArray[np.float64] = q64 / float(np.linalg.norm(q64))
    return unit


def _float32_embedding(embedding: Any, dim: int) -> Embedding:
    """``embedding`` itself when it is a float32 ndarray of shape ``(dim,)``, else
    :func:`validate_embedding`'s float32 copy of it."""
    if type(embedding) is np.ndarray and embedding.dtype is _F32 and embedding.shape == (dim,):
        return embedding
    return validate_embedding(embedding, dim)


def _own_embedding(embedding: Any, dim: int) -> Embedding:
    """A private float32 copy of ``embedding``; finiteness is checked by :meth:`_norm`.

    The fast path (a float32 ndarray of shape ``(dim,)``, :func:`_float32_embedding`'s
    test inline: put's path, a call less) is one copy; anything else goes through
    :func:`validate_embedding`, which converts and checks (a copy already)."""
    if type(embedding) is np.ndarray and embedding.dtype is _F32 and embedding.shape == (dim,):
        return embedding.copy()
    return validate_embedding(embedding, dim)


def _content_bytes(content: Any, max_content: int) -> bytes:
    if type(content) is bytes and len(content) <= max_content:
        return content
    return validate_content(content, max_content)


def _confidence32(confidence: Any) -> float:
    """:func:`validate_confidence`, with a fast path for a float in range (a struct round
    trip rounds to float32 as numpy does, in half the time)."""
    if type(confidence) is float and 0.0 <= confidence <= 1.0:
        value: float = _F4.unpack(_F4.pack(confidence))[0]
        return value
    return validate_confidence(confidence)


class _OpenPaths:
    """Directories this process holds open (flock also guards across processes)."""

    lock = threading.Lock()
    paths: ClassVar[set[str]] = set()


class WarmTierStore(Recovery, Compaction, Ranking, BatchPuts, Invariants):
    """A persistent, thread-safe store of (id, embedding, content, confidence) records.

    >>> import tempfile, numpy as np
    >>> d = tempfile.mkdtemp()
    >>> with WarmTierStore.create(d + "/s", dim=3) as s:
    ...     s.put("a", [1, 0, 0], b"hello", confidence=0.5)
    ...     s.get("a").content
    b'hello'
    >>> WarmTierStore.open(d + "/s").search([1, 0, 0], k=1)
    [('a', 1.0)]

    Complexity: ``put``/``get``/``remove`` are O(log F) in the free extents; ``search`` is
    one matrix-vector product over the embedding rows; ``open`` checks every slot's checksum.
    """

    #: After a kill no completed operation is lost and the one in flight is all or
    #: nothing (the contract's stronger promise; see warmtier.testing.subject).
    crash_promise: ClassVar[str] = "no-loss"
    #: The batch calls this store keeps as docs/contract-extensions.md defines them.
    batch_calls: ClassVar[tuple[str, ...]] = ("put_many", "get_many", "remove_many",
                                              "search_many")
    failpoint_names: ClassVar[tuple[str, ...]] = (
        "put.after_alloc",
        "put.after_content",
        "put.before_publish",
        "put.after_publish",
        "remove.before_unpublish",
        "remove.after_unpublish",
        "grow.embeddings.before_extend",
        "grow.embeddings.before_remap",
        "grow.slots.before_extend",
        "grow.slots.before_remap",
        "grow.content.before_extend",
        "grow.content.before_remap",
        "flush.before_sync",
        "flush.after_data_sync",
        "flush.after_retire",
        "compact.after_copy",
        "compact.before_switch",
        "compact.after_switch",
    )

    # -- construction ----------------------------------------------------------------

    def __init__(self) -> None:  # use create() or open()
        raise TypeError("use WarmTierStore.create(path, dim) or WarmTierStore.open(path)")

    @classmethod
    def create(
        cls,
        path: str | os.PathLike[str],
        dim: int,
        *,
        initial_capacity: int = 1024,
        initial_content_bytes: int = 1 << 20,
        max_content: int = DEFAULT_MAX_CONTENT,
        max_slots: int | None = None,
        max_content_bytes: int | None = None,
    ) -> WarmTierStore:
        """A new store in ``path`` (absent or an empty directory).

        ``max_slots`` and ``max_content_bytes`` cap growth (CapacityError past them).
        """
        _check_create_args(dim, initial_capacity, initial_content_bytes, max_content,
                           max_slots, max_content_bytes)
        directory = os.path.abspath(os.fspath(path))
        existed = os.path.lexists(directory)
        if existed:
            if not os.path.isdir(directory):
                raise InvalidArgumentError(f"{directory} exists and is not a directory")
            if os.listdir(directory):
                raise InvalidArgumentError(f"{directory} is not empty; create needs a new store")
        os.makedirs(directory, exist_ok=True)
        capacity = initial_capacity if max_slots is None else min(initial_capacity, max_slots)
        arena = max(PAGE, round_up(initial_content_bytes, PAGE))
        if max_content_bytes is not None:
            arena = min(arena, max(PAGE, max_content_bytes))
        dtype = slot_dtype(dim)
        header = Header(dim=dim, slot_size=dtype.itemsize, max_content=max_content,
                        max_slots=max_slots or 0, max_arena_bytes=max_content_bytes or 0)
        lock_fd = cls._acquire_lock(directory)
        slots = embeddings = content = None
        try:
            slots = MappedFile(os.path.join(directory, slots_name(0)),
                               create_size=HEADER_SIZE + capacity * dtype.itemsize, name="slots")
            embeddings = MappedFile(os.path.join(directory, embeddings_name(0)),
                                    create_size=capacity * 4 * dim, name="embeddings")
            content = MappedFile(os.path.join(directory, content_name(0)),
                                 create_size=arena, name="content")
            slots.u8[:HEADER_SIZE] = np.frombuffer(header.pack(), np.uint8)
            for f in (content, embeddings, slots):
                f.sync()
            write_current(directory, 0)
        except BaseException as exc:
            # Leave the path as it was (absent or empty), so a retry can create it.
            cls._discard((slots, embeddings, content), *(os.path.join(directory, name) for name in (
                CURRENT_NAME, CURRENT_NAME + ".tmp", slots_name(0), embeddings_name(0),
                content_name(0), LOCK_NAME)))
            cls._release_lock(directory, lock_fd)
            if not existed:
                with contextlib.suppress(OSError):
                    os.rmdir(directory)
            if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise CapacityError(f"cannot create a store in {directory}: {exc}") from exc
            raise
        store = object.__new__(cls)
        store._init_empty(directory, header, slots, embeddings, content, lock_fd)
        return store

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, verify: Verify = "all") -> WarmTierStore:
        """The store in ``path``, recovered: torn slots dropped, the newest version of each
        id kept, free space rebuilt from the slots alone.

        ``verify="all"`` (the default) checks every slot's checksum over the slot, its
        embedding and its content, so damage anywhere is a CorruptionError now. ``verify="recent"`` checks
        only the slots written after the last durability point, the ones a crash can have
        torn, and trusts the older ones (bounds and fields are still checked; ``check()``
        verifies every checksum on demand): about a third of the time at 1M records.
        """
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
            store._drop_files()
            cls._release_lock(directory, lock_fd)
            raise
        return store

    # -- the lock file ---------------------------------------------------------------

    @staticmethod
    def _acquire_lock(directory: str) -> int:
        with _OpenPaths.lock:
            if directory in _OpenPaths.paths:
                raise StoreLockedError(f"{directory} is already open in this process")
            try:
                fd = os.open(os.path.join(directory, LOCK_NAME), os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise CorruptionError(f"{directory}: cannot open the lock file: {exc}") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise StoreLockedError(f"{directory} is already open by another process") from None
            _OpenPaths.paths.add(directory)
            return fd

    @staticmethod
    def _release_lock(directory: str, fd: int) -> None:
        with _OpenPaths.lock:
            _OpenPaths.paths.discard(directory)
            with contextlib.suppress(OSError):
                os.close(fd)

    # -- in-memory state -------------------------------------------------------------

    def _init_empty(self, directory: str, header: Header, slots: MappedFile,
                    embeddings: MappedFile, content: MappedFile, lock_fd: int) -> None:
        self._init_state(directory, header, slots, embeddings, content, lock_fd)
        self._free_slots = list(range(self._capacity - 1, -1, -1))
        self._alloc = ExtentAllocator(content.size)

    # -- small helpers ---------------------------------------------------------------

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def path(self) -> str:
        return self._path

    def __len__(self) -> int:
        with self._lock:
            self._ensure_open()
            return len(self._index)

    def __contains__(self, id: object) -> bool:
        validate_id(id)
        with self._lock:
            self._ensure_open()
            return id in self._index

    def ids(self) -> list[str]:
        with self._lock:
            self._ensure_open()
            return list(self._index)

    def __enter__(self) -> WarmTierStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        if getattr(self, "_closed", True):
            return f"<WarmTierStore {getattr(self, '_path', '?')} closed>"
        return f"<WarmTierStore {self._path} dim={self._dim} records={len(self._index)}>"

    # -- reads -----------------------------------------------------------------------

    def get(self, id: str) -> Record | None:
        if type(id) is str:  # fast path: an id in the index was validated by its put
            with self._lock:
                if not self._closed:
                    i = self._index.get(id)
                    if i is not None:
                        return self._read(i, id)
        validate_id(id)
        with self._lock:
            self._ensure_open()
            i = self._index.get(id)
            if i is None:
                return None
            return self._read(i, id)

    def _read(self, i: int, id: str) -> Record:
        slot = i * self._slot_size
        # the extent and confidence from the slot's first cache line, which the read
        # touches anyway (three table columns cost three more misses: 8% of a random get)
        off, n, conf = _EXTENT.unpack_from(self._slots_mv, slot)
        start = self._emb_base + i * self._emb_stride
        # frombuffer over a private bytes copy: read-only, and owned by the record
        emb = np.frombuffer(self._emb_mv[start : start + 4 * self._dim].tobytes(), _F32)
        content = self._arena_mv[off : off + n].tobytes()
        return _make_record(id, emb, content, conf)

    def scan(self, batch_size: int = 1024) -> Iterator[Record]:
        """Every live record, weakly consistent: ids live at the start are read in batches,
        each batch under the lock; ids removed meanwhile are skipped, new ids not yielded."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidArgumentError(f"batch_size must be a positive int; got {batch_size!r}")
        with self._lock:
            self._ensure_open()
            slots = np.flatnonzero(self._table.live)
            slot_ids = self._table.ids
            names = [str(slot_ids[i]) for i in slots.tolist()]
        return self._scan_batches(names, slots, batch_size)

    def _scan_batches(self, names: list[str], slots: npt.NDArray[np.int64],
                      batch_size: int) -> Iterator[Record]:
        for start in range(0, len(names), batch_size):
            with self._lock:
                self._ensure_open()
                found, where = self._still_live(names[start : start + batch_size],
                                                slots[start : start + batch_size])
                if not found:
                    continue
                embs = self._embeddings[where]
                embs.flags.writeable = False
                offs = self._table.offsets[where].tolist()
                lens = self._table.lengths[where].tolist()
                confs = self._table.confidences[where].tolist()
                arena = self._arena_mv  # memoryview slices: a third of ndarray slicing's cost
                contents = [arena[o : o + n].tobytes() for o, n in zip(offs, lens, strict=True)]
            yield from map(_make_record, found, embs, contents, confs)  # a loop in C

    def _still_live(self, names: list[str], slots: npt.NDArray[np.int64]
                    ) -> tuple[list[str], npt.NDArray[np.int64]]:
        """Of ``names`` (live in ``slots`` when the scan began), those live now, with the
        slots that hold them now. A slot that still holds its name holds its live version
        (a dead or replaced version's slot holds no name), so the common case costs one
        list comparison and no dict lookup (after a batch's reads the index is out of
        cache: two lookups per record took scan from 1.43 to 1.72 us a record at 100K)."""
        held = self._table.ids
        at = slots.tolist()
        if [held[i] for i in at] == names:
            return names, slots
        index = self._index
        moved = [(name, i if held[i] == name else index.get(name))
                 for name, i in zip(names, at, strict=True)]
        kept = [(name, i) for name, i in moved if i is not None]
        return [name for name, _ in kept], np.array([i for _, i in kept], dtype=np.int64)

    def search(self, query: Any, k: int = 10) -> list[tuple[str, float]]:
        unit = _unit(validate_query(query, self._dim))
        k = validate_k(k)
        with self._lock:
            self._ensure_open()
            if not self._index:
                return []
            return self._rank(unit[None, :], k)[0]

    # -- writes ----------------------------------------------------------------------

    def put(self, id: str, embedding: Any, content: bytes | str, confidence: float = 1.0) -> None:
        raw_id = validate_id(id)
        emb = _own_embedding(embedding, self._dim)
        data = _content_bytes(content, self._max_content)
        conf = _confidence32(confidence)
        with self._lock:
            norm = self._norm(emb)
            self._ensure_open()
            self._put_locked(id, raw_id, emb, data, conf, norm)

    def _put_locked(self, id: str, raw_id: bytes, emb: Embedding, data: bytes, conf: float,
                    norm: float) -> None:
        """Allocate, write, publish, remember: one validated record, under the lock."""
        slot, off = self._allocate(len(data))
        try:
            seq = self._write(slot, raw_id, emb, data, conf, norm, off)
            self._publish(slot, seq)
        except BaseException:
            self._give_back(slot, off, len(data))
            raise
        # Published: from here on only in-memory bookkeeping that cannot fail.
        self._remember(id, slot, off, len(data), norm, conf)
        failpoint("put.after_publish")

    def _norm(self, emb: Embedding) -> float:
        """The embedding's norm in float64 (under the lock: it uses the scratch buffer),
        raising InvalidArgumentError if a value is not finite: float32 squares cannot
        overflow a float64 sum of at most MAX_DIM terms, so only a NaN or an infinity makes
        the sum non-finite, and the dot product is the finiteness check."""
        buf = self._norm_buf
        buf[...] = emb  # (a third cheaper than np.copyto, and buf.dot than np.dot)
        sq = float(buf.dot(buf))
        if not sq < math.inf:
            validate_embedding(emb, self._dim)  # raises, naming the value
        return math.sqrt(sq)

    def _allocate(self, n: int) -> tuple[int, int]:
        """A free slot and an extent of ``n`` bytes (offset 0 when ``n`` is 0)."""
        slot = self._take_slot()
        try:
            return slot, self._take_extent(n) if n else 0
        except BaseException:
            self._free_slots.append(slot)
            raise

    def _give_back(self, slot: int, off: int, n: int) -> None:
        """Undo :meth:`_allocate` for a put that failed before its publish."""
        self._free_slots.append(slot)
        if n:
            self._alloc.free(off, n)

    def _write(self, slot: int, raw_id: bytes, emb: Embedding, data: bytes, conf: float,
               norm: float, off: int) -> int:
        """Write the content, then the embedding and the slot body in place, unpublished
        (seq 0 on disk) with the crc that writing the returned sequence number makes valid."""
        failpoint("put.after_alloc")
        n = len(data)
        self._prefault(slot, off, n)
        if data:
            self._arena_mv[off : off + n] = data
        failpoint("put.after_content")
        seq = self._next_seq
        self._next_seq = seq + 1
        self._embeddings[slot] = emb  # its row (inside the slot in formats 1 and 2)
        e = self._emb_base + slot * self._emb_stride
        row = self._emb_mv[e : e + 4 * self._dim]
        start = slot * self._slot_size
        if self._emb_file is None:
            self._write_inline_slot(start, seq, raw_id, data, conf, norm, off, row)
            return seq
        body = self._body  # format 3: the slot is its fields, built aside with its seq
        _SLOT3.pack_into(body, 0, 0, len(raw_id), 0, seq, off, n, conf, norm, raw_id)
        crc = slot_checksum(body, data, 3, row)
        _FIXED_HEAD.pack_into(body, 0, crc, len(raw_id), 0, 0)  # the crc in, seq out
        self._slots_mv[start : start + SLOT_FIXED] = body
        return seq

    def _write_inline_slot(self, start: int, seq: int, raw_id: bytes, data: bytes,
                           conf: float, norm: float, off: int, row: memoryview) -> None:
        """Formats 1 and 2: the fields of the slot at ``start`` around its embedding."""
        mv = self._slots_mv
        _FIXED.pack_into(mv, start, 0, len(raw_id), 0, 0, off, len(data), conf, norm)
        mv[start + ID_OFFSET : start + SLOT_FIXED] = raw_id.ljust(ID_FIELD, b"\0")
        crc = unpublished_slot_checksum(mv[start : start + self._slot_size], seq, data,
                                        self._header.version, row)
        _CRC.pack_into(mv, start, crc)

    def _publish(self, slot: int, seq: int) -> None:
        failpoint("put.before_publish")
        self._seqs[slot] = seq  # the publish: one aligned 8-byte store (numpy, not struct)

    def _remember(self, id: str, slot: int, off: int, n: int, norm: float,
                  conf: float) -> None:
        """Point the index and the slot table at ``id``'s newly published slot."""
        old = self._index.get(id)
        if old is not None:
            self._retire_replaced(old, id)
        self._index[id] = slot
        self._table.fill(slot, id, off, n, norm, conf)
        self._live_bytes += n

    def _retire_replaced(self, slot: int, id: str) -> None:
        """The old version of a replaced id stays valid on disk until the next sync."""
        self._stale.setdefault(id, []).append(slot)
        self._stale_count += 1
        self._release_live(slot)

    def _release_live(self, slot: int) -> None:
        n = int(self._table.lengths[slot])
        if n:
            self._pending_extents.append((int(self._table.offsets[slot]), n))
            self._pending_bytes += n
        self._live_bytes -= n
        self._table.clear(slot)

    def remove(self, id: str) -> bool:
        validate_id(id)
        with self._lock:
            self._ensure_open()
            slot = self._index.get(id)
            if slot is None:
                return False
            failpoint("remove.before_unpublish")
            self._seqs[slot] = 0
            for old in self._stale.pop(id, ()):
                self._seqs[old] = 0  # an older version must not come back after a crash
                self._stale_count -= 1
                self._pending_slots.append(old)
            del self._index[id]
            self._release_live(slot)
            self._pending_slots.append(slot)
            failpoint("remove.after_unpublish")
            return True

    # -- batch calls (contract extensions, docs/contract-extensions.md) ----------------

    def put_many(self, records: Iterable[Any]) -> None:
        """Put every record, in order, under one lock acquisition with one decision about
        slot space (sync to recycle, or grow) for the whole batch.

        ``records`` holds ``(id, embedding, content)`` or ``(id, embedding, content,
        confidence)`` tuples, or objects with those four attributes (a ``Record``). Every
        record is validated first: an invalid one raises InvalidArgumentError naming its
        position, and nothing is written. Each record is all-or-nothing; an exception
        during the writes (CapacityError, a fault) leaves a prefix of the batch applied
        and the failing record not. A later duplicate id wins, as in a loop of ``put``.
        """
        rows = [self._checked_row(j, r) for j, r in enumerate(records)]
        batch = Batch.of(rows, self._dim)
        with self._lock:
            self._ensure_open()
            self._reserve_slots(len(rows))
            self._put_batch(batch)

    def _checked_row(self, j: int, record: Any) -> tuple[str, bytes, Embedding, bytes, float]:
        """One validated record of :meth:`put_many`, its embedding float32 of shape
        ``(dim,)`` but not yet copied (:meth:`Batch.of` stacks them: the store's copy)."""
        try:
            id, embedding, content, confidence = record_fields(record)
            return (id, validate_id(id), _float32_embedding(embedding, self._dim),
                    _content_bytes(content, self._max_content), _confidence32(confidence))
        except InvalidArgumentError as exc:
            raise InvalidArgumentError(f"records[{j}]: {exc}") from None

    def _reserve_slots(self, n: int) -> None:
        """A batch's one sync decision: :meth:`_take_slot`'s policy once for ``n`` puts
        (sync to recycle freed slots when they are a quarter of the file, else grow)."""
        if len(self._free_slots) >= n:
            return
        reclaimable = len(self._pending_slots) + self._stale_count
        if reclaimable and reclaimable * 4 >= self._capacity:
            self._sync_and_mark()
        while len(self._free_slots) < n:
            try:
                self._grow_slots()
            except CapacityError:
                return  # at the limit: each put's _take_slot decides (and may raise)

    def get_many(self, ids: Iterable[str]) -> list[Record | None]:
        """``[get(id) for id in ids]`` as one atomic read under one lock acquisition;
        every id is validated first."""
        wanted = _checked_ids(ids)
        with self._lock:
            self._ensure_open()
            index, read = self._index, self._read
            out: list[Record | None] = []
            for id in wanted:
                i = index.get(id)
                out.append(None if i is None else read(i, id))
            return out

    def remove_many(self, ids: Iterable[str]) -> list[bool]:
        """``[remove(id) for id in ids]`` under one lock acquisition (each remove is
        all-or-nothing; an exception leaves a prefix removed); ids validated first."""
        wanted = _checked_ids(ids)
        with self._lock:
            self._ensure_open()
            return [self.remove(id) for id in wanted]

    def search_many(self, queries: Any, k: int = 10) -> list[list[tuple[str, float]]]:
        """``[search(q, k) for q in queries]``, equal to the last bit, from matrix products
        (every query against 4,096 slots at a time) under one lock acquisition: every
        query sees the same state."""
        k = validate_k(k)
        qs = [validate_query(q, self._dim) for q in queries]
        if not qs:
            return []
        units = np.stack([_unit(q) for q in qs])
        with self._lock:
            self._ensure_open()
            if not self._index:
                return [[] for _ in qs]
            return self._rank(units, k)

    # -- space -----------------------------------------------------------------------

    def _take_slot(self) -> int:
        """A free slot; syncs to recycle freed ones when they are a quarter of the file,
        grows the file otherwise (and syncs anyway if growth is refused)."""
        if not self._free_slots:
            reclaimable = len(self._pending_slots) + self._stale_count
            if reclaimable and reclaimable * 4 >= self._capacity:
                self._sync_and_mark()
            if not self._free_slots:
                try:
                    self._grow_slots()
                except CapacityError:
                    if not reclaimable:
                        raise
                    self._sync_and_mark()
        return self._free_slots.pop()

    def _take_extent(self, n: int) -> int:
        """An extent of ``n`` bytes, by the same policy as :meth:`_take_slot`."""
        off = self._alloc.allocate(n)
        if off is not None:
            return off
        pending = self._pending_bytes
        if pending >= n and pending * 4 >= self._alloc.size:
            self._sync_and_mark()
            off = self._alloc.allocate(n)
            if off is not None:
                return off
        try:
            self._grow_content(n)
        except CapacityError:
            if not pending:
                raise
            self._sync_and_mark()
            off = self._alloc.allocate(n)
            if off is None:
                raise
            return off
        off = self._alloc.allocate(n)
        assert off is not None, "the arena grew to hold the request"
        return off

    def _grow_slots(self) -> None:
        old = self._capacity
        new = old * 2
        limit = self._header.max_slots
        if limit:
            new = min(new, limit)
            if new <= old:
                raise CapacityError(f"the store holds its maximum of {limit} slots")
        emb = self._emb_file
        if emb is not None:  # rows first: a slot never lacks its row on disk
            before = emb.size, emb.u8
            emb.grow(new * 4 * self._dim)
        try:
            self._slots_file.grow(HEADER_SIZE + new * self._slot_size)
        except BaseException:
            if emb is not None:
                emb.shrink(*before)
            raise
        self._remap()
        self._table.grow(new - old)
        self._free_slots[:0] = range(new - 1, old - 1, -1)

    def _grow_content(self, need: int) -> None:
        old = self._alloc.size
        tail_free = old - self._alloc.high_water
        new = max(old * 2, round_up(old + need - tail_free, PAGE))
        limit = self._header.max_arena_bytes
        if limit:
            if old + need - tail_free > limit:
                raise CapacityError(f"the content arena holds its maximum of {limit} bytes")
            new = min(new, limit)
        self._content_file.grow(new)
        self._arena = self._content_file.u8
        self._arena_mv = self._arena.data
        self._ready_arena, self._arena_window = set(), (0, 0)  # a new mapping: none ahead
        self._alloc.grow(new)

    # -- durability ------------------------------------------------------------------

    def flush(self) -> None:
        """Make every completed operation durable (msync + fsync), then recycle freed space."""
        with self._lock:
            self._ensure_open()
            self._sync_and_mark()

    def _sync_and_mark(self) -> None:
        failpoint("flush.before_sync")
        self._content_file.sync()
        if self._emb_file is not None:
            self._emb_file.sync()
        self._slots_file.sync()
        failpoint("flush.after_data_sync")
        stale = [slot for slots in self._stale.values() for slot in slots]
        if stale:
            self._seqs[np.array(stale, dtype=np.int64)] = 0  # new versions are durable
            # Zeroed, the old versions are plain dead slots: move them to the pending role
            # now, so an exception in the rest of the sync leaves check() true (a retired
            # slot listed as stale would be "unpublished on disk"). Crash test finding.
            self._pending_slots.extend(stale)
            self._stale.clear()
            self._stale_count = 0
            self._slots_file.sync()
        failpoint("flush.after_retire")
        self._header = self._header.with_seqs(self._next_seq - 1, self._next_seq - 1)
        self._slots_file.u8[:HEADER_SIZE] = np.frombuffer(self._header.pack(), np.uint8)
        self._slots_file.sync()
        # Nothing durable refers to the freed slots and extents any more: recycle them.
        self._free_slots.extend(self._pending_slots)  # (the retired stale slots among them)
        self._pending_slots.clear()
        self._stale.clear()
        self._stale_count = 0
        self._alloc.free_many(self._pending_extents)
        self._pending_extents.clear()
        self._pending_bytes = 0

    # -- stats -----------------------------------------------------------------------

    def stats(self) -> StoreStats:
        with self._lock:
            self._ensure_open()
            span = self._alloc.high_water
            frag = 0.0 if span == 0 else 1.0 - self._live_bytes / span
            return StoreStats(
                records=len(self._index),
                capacity=self._capacity,
                content_live_bytes=self._live_bytes,
                content_allocated_bytes=span,
                fragmentation=min(1.0, max(0.0, frag)),
                content_capacity_bytes=self._alloc.size,
                slots_file_bytes=self._slots_file.size,
                content_file_bytes=self._content_file.size,
                extra={
                    "free_slots": len(self._free_slots),
                    "pending_slots": len(self._pending_slots) + self._stale_count,
                    "pending_bytes": self._pending_bytes,
                    "free_extents": len(self._alloc.free_extents()),
                    "generation": self._header.gen,
                    "format": self._header.version,
                    "embeddings_file_bytes": 0 if self._emb_file is None else self._emb_file.size,
                },
            )

    # -- closing ---------------------------------------------------------------------

    def close(self) -> None:
        """Flush, unmap and unlock. Later calls raise StoreClosedError; closing twice is fine."""
        with self._lock:
            if self._closed:
                return
            try:
                self._sync_and_mark()
            finally:
                self._closed = True
                self._drop_files()
                self._release_lock(self._path, self._lock_fd)
                self._lock_fd = -1

    def _drop_files(self) -> None:
        for name in ("_slots_mv", "_emb_mv", "_arena_mv"):
            view = getattr(self, name, None)
            if isinstance(view, memoryview):
                view.release()
        for name in ("_slots", "_seqs", "_embeddings", "_slot_bytes", "_arena", "_slots_mv",
                     "_emb_mv", "_arena_mv"):
            if hasattr(self, name):
                setattr(self, name, None)
        for name in ("_slots_file", "_emb_file", "_content_file"):
            f = getattr(self, name, None)
            if f is not None:
                f.close()

    def __del__(self) -> None:
        # Abandoned without close(): nothing is flushed (the page cache keeps the writes),
        # but the lock is released so the directory can be opened again.
        if getattr(self, "_closed", True) or getattr(self, "_lock_fd", -1) < 0:
            return
        self._closed = True
        with contextlib.suppress(Exception):
            self._drop_files()
            self._release_lock(self._path, self._lock_fd)


def _checked_ids(ids: Iterable[str]) -> list[str]:
    wanted = list(ids)
    for j, id in enumerate(wanted):
        try:
            validate_id(id)
        except InvalidArgumentError as exc:
            raise InvalidArgumentError(f"ids[{j}]: {exc}") from None
    return wanted


def _check_create_args(dim: int, initial_capacity: int, initial_content_bytes: int,
                       max_content: int, max_slots: int | None,
                       max_content_bytes: int | None) -> None:
    for name, value, low in (
        ("dim", dim, 1),
        ("initial_capacity", initial_capacity, 1),
        ("initial_content_bytes", initial_content_bytes, 0),
        ("max_content", max_content, 0),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise InvalidArgumentError(f"{name} must be an int >= {low}; got {value!r}")
    if dim > MAX_DIM:
        raise InvalidArgumentError(f"dim must be at most {MAX_DIM}; got {dim}")
    for name, limit in (("max_slots", max_slots), ("max_content_bytes", max_content_bytes)):
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)
                                  or limit < 1):
            raise InvalidArgumentError(f"{name} must be a positive int or None; got {limit!r}")
