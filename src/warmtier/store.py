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
import os
import struct
import threading
import zlib
from collections.abc import Iterator
from typing import Any, ClassVar, Literal

import numpy as np
import numpy.typing as npt

from warmtier.allocator import AllocatorError, ExtentAllocator
from warmtier.errors import (
    CapacityError,
    CorruptionError,
    InvalidArgumentError,
    StoreClosedError,
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
    MAX_SEQ,
    SLOT_FIXED,
    Header,
    content_name,
    fixed_dtype,
    fsync_dir,
    read_current,
    slot_checksum,
    slot_dtype,
    slots_name,
    unpublished_slot_checksum,
    write_current,
)
from warmtier.mapped import MappedFile
from warmtier.records import CompactionStats, Embedding, Record, StoreStats
from warmtier.validation import (
    DEFAULT_MAX_CONTENT,
    validate_confidence,
    validate_content,
    validate_embedding,
    validate_id,
    validate_k,
    validate_query,
)

__all__ = ["WarmTierStore"]

_F32 = np.dtype("<f4")
_FIXED = struct.Struct("<IHHQQQfxxxxd")  # crc id_len flags seq off length confidence norm
_CRC = struct.Struct("<I")
_PAGE = 4096
# Norms outside this range are scored in float64 (float32 would overflow or underflow).
_SAFE_NORM = (1e-30, 1e30)
Verify = Literal["all", "recent"]


def _make_record(id: str, embedding: Embedding, content: bytes, confidence: float) -> Record:
    """A Record from data this store already copied (skips the defensive copies)."""
    rec = object.__new__(Record)
    object.__setattr__(rec, "id", id)
    object.__setattr__(rec, "embedding", embedding)
    object.__setattr__(rec, "content", content)
    object.__setattr__(rec, "confidence", confidence)
    return rec


class _OpenPaths:
    """Directories this process holds open (flock also guards across processes)."""

    lock = threading.Lock()
    paths: ClassVar[set[str]] = set()


class WarmTierStore:
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
    one matrix-vector product over all slots; ``open`` checks every slot's crc32.
    """

    #: After a kill no completed operation is lost and the one in flight is all or
    #: nothing (the contract's stronger promise; see warmtier.testing.subject).
    crash_promise: ClassVar[str] = "no-loss"
    failpoint_names: ClassVar[tuple[str, ...]] = (
        "put.after_alloc",
        "put.after_content",
        "put.before_publish",
        "put.after_publish",
        "remove.before_unpublish",
        "remove.after_unpublish",
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
        directory = os.path.abspath(os.fspath(path))
        existed = os.path.lexists(directory)
        if existed:
            if not os.path.isdir(directory):
                raise InvalidArgumentError(f"{directory} exists and is not a directory")
            if os.listdir(directory):
                raise InvalidArgumentError(f"{directory} is not empty; create needs a new store")
        os.makedirs(directory, exist_ok=True)
        capacity = initial_capacity if max_slots is None else min(initial_capacity, max_slots)
        arena = max(_PAGE, _round_up(initial_content_bytes, _PAGE))
        if max_content_bytes is not None:
            arena = min(arena, max(_PAGE, max_content_bytes))
        dtype = slot_dtype(dim)
        header = Header(dim=dim, slot_size=dtype.itemsize, max_content=max_content,
                        max_slots=max_slots or 0, max_arena_bytes=max_content_bytes or 0)
        lock_fd = cls._acquire_lock(directory)
        slots = content = None
        try:
            slots = MappedFile(os.path.join(directory, slots_name(0)),
                               create_size=HEADER_SIZE + capacity * dtype.itemsize, name="slots")
            content = MappedFile(os.path.join(directory, content_name(0)),
                                 create_size=arena, name="content")
            slots.u8[:HEADER_SIZE] = np.frombuffer(header.pack(), np.uint8)
            slots.sync()
            content.sync()
            write_current(directory, 0)
        except BaseException as exc:
            # Leave the path as it was (absent or empty), so a retry can create it.
            cls._discard(slots, content, *(os.path.join(directory, name) for name in (
                CURRENT_NAME, CURRENT_NAME + ".tmp", slots_name(0), content_name(0), LOCK_NAME)))
            cls._release_lock(directory, lock_fd)
            if not existed:
                with contextlib.suppress(OSError):
                    os.rmdir(directory)
            if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise CapacityError(f"cannot create a store in {directory}: {exc}") from exc
            raise
        store = object.__new__(cls)
        store._init_empty(directory, header, slots, content, lock_fd)
        return store

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, verify: Verify = "all") -> WarmTierStore:
        """The store in ``path``, recovered: torn slots dropped, the newest version of each
        id kept, free space rebuilt from the slots alone.

        ``verify="all"`` (the default) checks every slot's crc32 over the slot and its
        content, so damage anywhere is a CorruptionError now. ``verify="recent"`` checks
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

    def _init_state(self, directory: str, header: Header, slots: MappedFile,
                    content: MappedFile, lock_fd: int) -> None:
        self._path = directory
        self._header = header
        self._dim = header.dim
        self._dtype = slot_dtype(header.dim)
        self._slot_size = self._dtype.itemsize
        self._max_content = header.max_content
        self._slots_file = slots
        self._content_file = content
        self._lock_fd = lock_fd
        self._lock = threading.RLock()
        self._closed = False
        self._remap()
        capacity = self._capacity
        self._index: dict[str, int] = {}
        self._slot_ids: list[str | None] = [None] * capacity
        self._live = np.zeros(capacity, dtype=bool)
        self._offsets = np.zeros(capacity, dtype=np.int64)
        self._lengths = np.zeros(capacity, dtype=np.int64)
        self._norms = np.zeros(capacity, dtype=np.float64)
        self._confidences = np.zeros(capacity, dtype=np.float64)
        self._free_slots: list[int] = []
        self._pending_slots: list[int] = []  # dead on disk; reusable after the next sync
        self._stale: dict[str, list[int]] = {}  # replaced, still valid on disk; retired at sync
        self._stale_count = 0
        self._pending_extents: list[tuple[int, int]] = []
        self._pending_bytes = 0
        self._live_bytes = 0
        self._next_seq = 1

    def _init_empty(self, directory: str, header: Header, slots: MappedFile,
                    content: MappedFile, lock_fd: int) -> None:
        self._init_state(directory, header, slots, content, lock_fd)
        self._free_slots = list(range(self._capacity - 1, -1, -1))
        self._alloc = ExtentAllocator(content.size)

    def _remap(self) -> None:
        """Refresh the views after a file was mapped anew."""
        body = self._slots_file.u8[HEADER_SIZE:]
        self._capacity = body.shape[0] // self._slot_size
        self._slots = body[: self._capacity * self._slot_size].view(self._dtype)
        self._slot_bytes = body
        self._seqs = self._slots["seq"]
        self._embeddings = self._slots["embedding"]
        self._arena = self._content_file.u8
        self._slots_mv = body.data  # plain byte writes, faster than numpy setitem
        self._arena_mv = self._arena.data

    # -- recovery --------------------------------------------------------------------

    def _recover(self, directory: str, lock_fd: int, verify: Verify = "all") -> None:
        self._slots_file = None  # type: ignore[assignment]
        self._content_file = None  # type: ignore[assignment]
        gen = read_current(directory)
        slots_path = os.path.join(directory, slots_name(gen))
        content_path = os.path.join(directory, content_name(gen))
        for p in (slots_path, content_path):
            if not os.path.isfile(p):
                raise CorruptionError(f"{directory}: CURRENT names generation {gen} but "
                                      f"{os.path.basename(p)} is missing")
        try:
            self._slots_file = MappedFile(slots_path, name="slots")
            self._content_file = MappedFile(content_path, name="content")
        except (OSError, ValueError) as exc:
            raise CorruptionError(f"{directory}: cannot map the store files: {exc}") from None
        raw = self._slots_file.u8[:HEADER_SIZE].tobytes()
        header = Header.unpack(raw, slots_path)
        if header.gen != gen:
            raise CorruptionError(f"{slots_path}: header generation {header.gen} != CURRENT {gen}")
        body = self._slots_file.size - HEADER_SIZE
        if body < 0 or body % header.slot_size:
            raise CorruptionError(
                f"{slots_path}: {self._slots_file.size} bytes is not a header plus whole slots"
            )
        slots_file, content_file = self._slots_file, self._content_file
        self._init_state(directory, header, slots_file, content_file, lock_fd)
        self._rebuild(verify)
        self._clean_up_generations(gen)

    def _rebuild(self, verify: Verify = "all") -> None:
        """Rebuild the index, the free lists and the allocator from the files alone."""
        header = self._header
        arena_size = self._content_file.size
        # One sequential pass copies every slot's fixed fields (not the id or embedding):
        # far cheaper than a strided gather per field over the whole mapping. Fields are
        # then plain arrays; no structured copies, no per-slot Python.
        cap, size = self._capacity, self._slot_size
        rows = self._slot_bytes[: cap * size].reshape(cap, size)
        fixed = np.ascontiguousarray(rows[:, :ID_OFFSET]).view(fixed_dtype()).reshape(cap)
        seqs = fixed["seq"]
        cand = np.flatnonzero(seqs != 0)
        u_offs, u_lens = fixed["off"][cand], fixed["length"][cand]
        offs, lens = u_offs.astype(np.int64), u_lens.astype(np.int64)
        id_lens = fixed["id_len"][cand].astype(np.int64)
        sane = (
            (u_offs <= arena_size)
            & (u_lens <= min(arena_size, header.max_content))
            & (offs + lens <= arena_size)
            & (id_lens >= 1) & (id_lens <= ID_FIELD - 1)
        )
        if verify == "all":
            good = self._verify(cand, offs, lens, sane)
        else:  # only what a crash can have torn; older slots are trusted when sane
            recent = sane & (seqs[cand] > header.flushed_seq)
            good = self._verify(cand, offs, lens, recent) | (sane & ~recent)
        bad = cand[~good]
        bad_seqs = seqs[bad]
        corrupt = bad[bad_seqs <= header.flushed_seq]
        if len(corrupt):
            raise CorruptionError(
                f"{self._path}: {len(corrupt)} slot(s) written before the last flush fail "
                "their checksum",
                [f"slot {int(i)} (seq {int(seqs[i])}) fails its checksum or bounds"
                 for i in corrupt[:50]],
            )
        torn = bad  # written after the last durability point and never completed
        if len(torn):
            cand, offs, lens, id_lens = cand[good], offs[good], lens[good], id_lens[good]
        confs = fixed["confidence"][cand].astype(np.float64)
        norms = fixed["norm"][cand].astype(np.float64)
        if len(cand):
            bad_conf = ~((confs >= 0.0) & (confs <= 1.0))
            bad_norm = ~(np.isfinite(norms) & (norms >= 0.0))
            if bad_conf.any() or bad_norm.any():
                raise CorruptionError(f"{self._path}: slot fields out of range despite a valid "
                                      "checksum")
        # Decode the ids; the highest sequence number of each id wins.
        order = np.argsort(seqs[cand], kind="stable")
        cand, offs, lens, id_lens = cand[order], offs[order], lens[order], id_lens[order]
        confs, norms = confs[order], norms[order]
        blob = rows[cand, ID_OFFSET : ID_OFFSET + ID_FIELD].tobytes()
        try:
            names = [blob[k : k + n].decode("utf-8") for k, n in
                     zip(range(0, len(blob), ID_FIELD), id_lens.tolist(), strict=True)]
        except UnicodeDecodeError:
            raise CorruptionError(f"{self._path}: a slot's id is not valid UTF-8") from None
        slot_list = cand.tolist()
        index: dict[str, int] = dict(zip(names, slot_list, strict=True))
        stale: dict[int, str] = {}
        if len(index) != len(names):  # superseded versions left by a crash: newest wins
            stale = {i: name for name, i in zip(names, slot_list, strict=True)
                     if index[name] != i}
        slot_ids = self._slot_ids
        live_slots = np.fromiter(index.values(), dtype=np.int64, count=len(index))
        live_mask = np.zeros(self._capacity, dtype=bool)
        live_mask[live_slots] = True
        self._offsets[cand] = offs
        self._lengths[cand] = lens
        self._norms[cand] = norms
        self._confidences[cand] = confs
        self._offsets[~live_mask] = 0
        self._lengths[~live_mask] = 0
        try:
            self._alloc = ExtentAllocator.from_allocated(
                arena_size, self._offsets[live_slots], self._lengths[live_slots])
        except AllocatorError as exc:
            raise CorruptionError(f"{self._path}: live content extents are invalid: {exc}") from None
        for ident, i in index.items():
            slot_ids[i] = ident
        self._index = index
        self._live = live_mask
        self._live_bytes = int(self._lengths[live_slots].sum())
        self._next_seq = max(int(seqs.max(initial=0)), header.seq_floor) + 1
        if self._next_seq > MAX_SEQ:  # 2**63 puts cannot have happened: a damaged counter
            raise CorruptionError(f"{self._path}: sequence number {self._next_seq - 1} is "
                                  f"beyond any reachable count ({MAX_SEQ})")
        # Retire what recovery dropped, durably, before anything can reuse the space.
        dead = np.concatenate((torn, np.fromiter(stale, dtype=np.int64, count=len(stale))))
        if len(dead):
            self._seqs[dead] = 0
        self._free_slots = np.flatnonzero(~live_mask)[::-1].tolist()
        if len(dead) or header.flushed_seq != self._next_seq - 1:
            self._sync_and_mark()

    def _verify(self, cand: npt.NDArray[np.int64], offs: npt.NDArray[np.int64],
                lens: npt.NDArray[np.int64], sane: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
        """Which candidate slots pass their checksum (one crc32 pass per slot and content)."""
        size = self._slot_size
        slots_mv = self._slot_bytes.data
        arena_mv = self._arena.data
        crc32 = zlib.crc32
        pick = np.flatnonzero(sane)
        starts = (cand[pick] * size).tolist()
        ok = [
            crc32(arena_mv[o : o + n], crc32(slots_mv[st + 4 : st + size])) == c
            for st, o, n, c in zip(starts, offs[pick].tolist(), lens[pick].tolist(),
                                   self._slots["crc"][cand[pick]].tolist(), strict=True)
        ]
        good = np.zeros(len(cand), dtype=bool)
        good[pick] = ok
        return good

    def _clean_up_generations(self, gen: int) -> None:
        """Delete files of other generations (an interrupted or finished compaction)."""
        keep = {slots_name(gen), content_name(gen)}
        for name in os.listdir(self._path):
            if name.startswith(("slots.", "content.")) and name not in keep:
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(self._path, name))

    # -- small helpers ---------------------------------------------------------------

    def _ensure_open(self) -> None:
        if self._closed:
            raise StoreClosedError(f"the store at {self._path} is closed")

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
        validate_id(id)
        with self._lock:
            self._ensure_open()
            i = self._index.get(id)
            if i is None:
                return None
            return self._read(i, id)

    def _read(self, i: int, id: str) -> Record:
        start = i * self._slot_size + SLOT_FIXED
        # frombuffer over a private bytes copy: read-only, and owned by the record
        emb = np.frombuffer(self._slots_mv[start : start + 4 * self._dim].tobytes(), _F32)
        off = self._offsets.item(i)
        content = self._arena_mv[off : off + self._lengths.item(i)].tobytes()
        return _make_record(id, emb, content, self._confidences.item(i))

    def scan(self, batch_size: int = 1024) -> Iterator[Record]:
        """Every live record, weakly consistent: ids live at the start are read in batches,
        each batch under the lock; ids removed meanwhile are skipped, new ids not yielded."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidArgumentError(f"batch_size must be a positive int; got {batch_size!r}")
        with self._lock:
            self._ensure_open()
            slot_ids = self._slot_ids
            names = [str(slot_ids[i]) for i in np.flatnonzero(self._live).tolist()]  # slot order
        return self._scan_batches(names, batch_size)

    def _scan_batches(self, names: list[str], batch_size: int) -> Iterator[Record]:
        for start in range(0, len(names), batch_size):
            batch = names[start : start + batch_size]
            with self._lock:
                self._ensure_open()
                index = self._index
                found = [(name, index[name]) for name in batch if name in index]
                if not found:
                    continue
                where = np.fromiter((i for _, i in found), dtype=np.int64, count=len(found))
                embs = self._embeddings[where]
                embs.flags.writeable = False
                offs = self._offsets[where].tolist()
                lens = self._lengths[where].tolist()
                confs = self._confidences[where].tolist()
                arena = self._arena
                contents = [arena[o : o + n].tobytes() for o, n in zip(offs, lens, strict=True)]
            for j, (name, _) in enumerate(found):
                yield _make_record(name, embs[j], contents[j], confs[j])

    def search(self, query: Any, k: int = 10) -> list[tuple[str, float]]:
        q = validate_query(query, self._dim)
        k = validate_k(k)
        q64 = q.astype(np.float64)
        qnorm = float(np.linalg.norm(q64))
        unit = q64 / qnorm
        with self._lock:
            self._ensure_open()
            n = len(self._index)
            if n == 0:
                return []
            live = self._live
            norms = self._norms
            with np.errstate(all="ignore"):
                raw = self._embeddings @ unit.astype(np.float32)
                scores = raw.astype(np.float64) / norms
            extreme = live & (norms != 0.0) & (
                (norms < _SAFE_NORM[0]) | (norms > _SAFE_NORM[1]) | ~np.isfinite(scores)
            )
            if extreme.any():
                rows = np.flatnonzero(extreme)
                exact = self._embeddings[rows].astype(np.float64) @ unit
                scores[rows] = exact / norms[rows]
            scores[norms == 0.0] = 0.0
            np.clip(scores, -1.0, 1.0, out=scores)
            cand = np.flatnonzero(live)
            s = scores[cand]
            if k < len(cand):
                top = np.argpartition(-s, k - 1)[:k]
                kth = s[top].min()
                keep = s >= kth
                cand, s = cand[keep], s[keep]
            slot_ids = self._slot_ids
            pairs = [(slot_ids[i], float(v)) for i, v in zip(cand.tolist(), s.tolist(),
                                                             strict=True)]
        pairs.sort(key=lambda p: (-p[1], p[0]))
        return [(str(name), score) for name, score in pairs[:k]]

    # -- writes ----------------------------------------------------------------------

    def put(self, id: str, embedding: Any, content: bytes | str, confidence: float = 1.0) -> None:
        raw_id = validate_id(id)
        emb = validate_embedding(embedding, self._dim)
        data = validate_content(content, self._max_content)
        conf = validate_confidence(confidence)
        e64 = emb.astype(np.float64)
        norm = float(np.sqrt(np.dot(e64, e64)))
        with self._lock:
            self._ensure_open()
            slot = self._take_slot()
            try:
                off = self._take_extent(len(data)) if data else 0
            except BaseException:
                self._free_slots.append(slot)
                raise
            try:
                self._write_and_publish(slot, raw_id, emb, data, conf, norm, off)
            except BaseException:
                self._free_slots.append(slot)
                if data:
                    self._alloc.free(off, len(data))
                raise
            # Published: from here on only in-memory bookkeeping that cannot fail.
            old = self._index.get(id)
            if old is not None:
                self._retire_replaced(old, id)
            self._index[id] = slot
            self._slot_ids[slot] = id
            self._live[slot] = True
            self._offsets[slot] = off
            self._lengths[slot] = len(data)
            self._norms[slot] = norm
            self._confidences[slot] = conf
            self._live_bytes += len(data)
            failpoint("put.after_publish")

    def _write_and_publish(self, slot: int, raw_id: bytes, emb: Embedding, data: bytes,
                           conf: float, norm: float, off: int) -> None:
        failpoint("put.after_alloc")
        if data:
            self._arena_mv[off : off + len(data)] = data
        failpoint("put.after_content")
        seq = self._next_seq
        self._next_seq += 1
        self._write_slot(slot, seq, raw_id, emb, data, conf, norm, off)
        failpoint("put.before_publish")
        self._seqs[slot] = seq  # the publish: one aligned 8-byte store (numpy, not struct)

    def _write_slot(self, slot: int, seq: int, raw_id: bytes, emb: Embedding, data: bytes,
                    conf: float, norm: float, off: int) -> None:
        """Write the slot in place, unpublished (seq 0 on disk), with the crc that writing
        ``seq`` will make valid."""
        size = self._slot_size
        start = slot * size
        mv = self._slots_mv
        _FIXED.pack_into(mv, start, 0, len(raw_id), 0, 0, off, len(data), conf, norm)
        mv[start + ID_OFFSET : start + SLOT_FIXED] = raw_id.ljust(ID_FIELD, b"\0")
        mv[start + SLOT_FIXED : start + SLOT_FIXED + 4 * self._dim] = emb.data.cast("B")
        crc = unpublished_slot_checksum(mv[start : start + size], seq, data)
        _CRC.pack_into(mv, start, crc)

    def _retire_replaced(self, slot: int, id: str) -> None:
        """The old version of a replaced id stays valid on disk until the next sync."""
        self._stale.setdefault(id, []).append(slot)
        self._stale_count += 1
        self._release_live(slot)

    def _release_live(self, slot: int) -> None:
        n = int(self._lengths[slot])
        if n:
            self._pending_extents.append((int(self._offsets[slot]), n))
            self._pending_bytes += n
        self._live_bytes -= n
        self._live[slot] = False
        self._slot_ids[slot] = None
        self._offsets[slot] = 0
        self._lengths[slot] = 0

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
        self._slots_file.grow(HEADER_SIZE + new * self._slot_size)
        self._remap()
        extra = new - old
        self._slot_ids.extend([None] * extra)
        self._live = np.concatenate((self._live, np.zeros(extra, bool)))
        self._offsets = np.concatenate((self._offsets, np.zeros(extra, np.int64)))
        self._lengths = np.concatenate((self._lengths, np.zeros(extra, np.int64)))
        self._norms = np.concatenate((self._norms, np.zeros(extra, np.float64)))
        self._confidences = np.concatenate((self._confidences, np.zeros(extra, np.float64)))
        self._free_slots[:0] = range(new - 1, old - 1, -1)

    def _grow_content(self, need: int) -> None:
        old = self._alloc.size
        tail_free = old - self._alloc.high_water
        new = max(old * 2, _round_up(old + need - tail_free, _PAGE))
        limit = self._header.max_arena_bytes
        if limit:
            if old + need - tail_free > limit:
                raise CapacityError(f"the content arena holds its maximum of {limit} bytes")
            new = min(new, limit)
        self._content_file.grow(new)
        self._arena = self._content_file.u8
        self._arena_mv = self._arena.data
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
        for off, n in self._pending_extents:
            self._alloc.free(off, n)
        self._pending_extents.clear()
        self._pending_bytes = 0

    # -- compaction ------------------------------------------------------------------

    def compact(self) -> CompactionStats:
        """Rewrite live records densely into a new generation of files and switch to it
        atomically (CURRENT is renamed last). A durability point."""
        with self._lock:
            self._ensure_open()
            self._sync_and_mark()
            before = self._alloc.high_water
            live = np.flatnonzero(self._live)
            order = live[np.argsort(self._offsets[live], kind="stable")]
            lens = self._lengths[order]
            new_offs = np.concatenate(([0], np.cumsum(lens)[:-1])).astype(np.int64) \
                if len(order) else np.zeros(0, np.int64)
            total = int(lens.sum())
            capacity = max(_initial(self._capacity, len(order)), 1)
            arena = max(_PAGE, _round_up(total, _PAGE))
            gen = self._header.gen + 1
            header = self._header.with_seqs(self._next_seq - 1, self._next_seq - 1)
            header = Header(header.dim, header.slot_size, header.max_content, header.flushed_seq,
                            header.seq_floor, gen, header.max_slots, header.max_arena_bytes)
            slots_path = os.path.join(self._path, slots_name(gen))
            content_path = os.path.join(self._path, content_name(gen))
            for p in (slots_path, content_path):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(p)
            new_slots = new_content = None
            try:
                new_slots = MappedFile(slots_path, name="slots",
                                       create_size=HEADER_SIZE + capacity * self._slot_size)
                new_content = MappedFile(content_path, name="content", create_size=arena)
                self._copy_into(new_slots, new_content, order, new_offs, header)
                failpoint("compact.after_copy")
                new_slots.sync()
                new_content.sync()
                fsync_dir(self._path)
                failpoint("compact.before_switch")
                write_current(self._path, gen)
            except OSError as exc:
                self._discard(new_slots, new_content, slots_path, content_path)
                if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                    raise CapacityError(f"no space to compact: {exc}") from exc
                raise
            except BaseException:
                self._discard(new_slots, new_content, slots_path, content_path)
                raise
            old_slots, old_content = self._slots_file, self._content_file
            self._adopt(header, new_slots, new_content, order, new_offs)
            old_slots.close()
            old_content.close()
            self._clean_up_generations(gen)
            after = self._alloc.high_water
            failpoint("compact.after_switch")
            return CompactionStats(bytes_before=before, bytes_after=after,
                                   bytes_reclaimed=before - after, records_moved=len(order))

    def _copy_into(self, slots: MappedFile, content: MappedFile, order: npt.NDArray[np.int64],
                   new_offs: npt.NDArray[np.int64], header: Header) -> None:
        slots.u8[:HEADER_SIZE] = np.frombuffer(header.pack(), np.uint8)
        size = self._slot_size
        dst = slots.u8[HEADER_SIZE:]
        src_arena = self._arena
        dst_arena = content.u8
        chunk = 4096
        for start in range(0, len(order), chunk):
            part = order[start : start + chunk]
            block = self._slots[part].copy()
            block["off"] = new_offs[start : start + chunk]
            raw = block.view(np.uint8).reshape(len(part), size)
            for j, i in enumerate(part.tolist()):
                o, n = int(self._offsets[i]), int(self._lengths[i])
                no = int(new_offs[start + j])
                if n:
                    dst_arena[no : no + n] = src_arena[o : o + n]
                row = raw[j]
                crc = slot_checksum(row.data, dst_arena[no : no + n].data)
                block["crc"][j] = crc
            dst[start * size : (start + len(part)) * size] = raw.reshape(-1)

    def _adopt(self, header: Header, slots: MappedFile, content: MappedFile,
               order: npt.NDArray[np.int64], new_offs: npt.NDArray[np.int64]) -> None:
        """Switch the in-memory state to the compacted generation (cannot fail)."""
        n = len(order)
        ids = [self._slot_ids[i] for i in order.tolist()]
        norms, confs, lens = self._norms[order], self._confidences[order], self._lengths[order]
        self._header = header
        self._slots_file, self._content_file = slots, content
        self._remap()
        cap = self._capacity
        self._slot_ids = [*ids, *([None] * (cap - n))]
        self._index = {name: i for i, name in enumerate(ids) if name is not None}
        self._live = np.zeros(cap, bool)
        self._live[:n] = True
        self._offsets = np.zeros(cap, np.int64)
        self._offsets[:n] = new_offs
        self._lengths = np.zeros(cap, np.int64)
        self._lengths[:n] = lens
        self._norms = np.zeros(cap, np.float64)
        self._norms[:n] = norms
        self._confidences = np.zeros(cap, np.float64)
        self._confidences[:n] = confs
        self._free_slots = list(range(cap - 1, n - 1, -1))
        self._pending_slots, self._stale, self._pending_extents = [], {}, []
        self._stale_count = self._pending_bytes = 0
        self._alloc = ExtentAllocator.from_allocated(content.size, new_offs, lens)

    @staticmethod
    def _discard(slots: MappedFile | None, content: MappedFile | None, *paths: str) -> None:
        for f in (slots, content):
            if f is not None:
                f.close()
        for p in paths:
            with contextlib.suppress(OSError):
                os.unlink(p)

    # -- stats and invariants --------------------------------------------------------

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
                },
            )

    def check(self) -> None:
        """Verify every invariant; raise CorruptionError listing each violation."""
        with self._lock:
            self._ensure_open()
            problems = self._violations()
        if problems:
            raise CorruptionError(f"{len(problems)} invariant violation(s): {problems[0]}",
                                  problems)

    def _violations(self) -> list[str]:
        p: list[str] = []
        cap = self._capacity
        size = self._slot_size
        arena = self._alloc.size
        if self._content_file.size != arena:
            p.append(f"arena file is {self._content_file.size} bytes, allocator thinks {arena}")
        try:
            Header.unpack(self._slots_file.u8[:HEADER_SIZE].tobytes(), "header")
        except CorruptionError as exc:
            p.append(str(exc))
        p.extend(self._alloc.check())
        for name, arr in (("live", self._live), ("offsets", self._offsets),
                          ("lengths", self._lengths), ("norms", self._norms),
                          ("confidences", self._confidences)):
            if len(arr) != cap:
                p.append(f"in-memory {name} array has {len(arr)} entries for {cap} slots")
        if len(self._slot_ids) != cap:
            p.append(f"slot id list has {len(self._slot_ids)} entries for {cap} slots")
        if p:
            return p
        # index <-> live slots, one to one
        live = np.flatnonzero(self._live).tolist()
        if len(live) != len(self._index):
            p.append(f"{len(live)} live slots but {len(self._index)} ids in the index")
        if len(set(self._index.values())) != len(self._index):
            p.append("two ids share a slot")
        for ident, i in self._index.items():
            if not 0 <= i < cap or not self._live[i] or self._slot_ids[i] != ident:
                p.append(f"index entry {ident!r} -> slot {i} is not that live slot")
        # every slot is in exactly one role
        stale = [slot for slots in self._stale.values() for slot in slots]
        if len(stale) != self._stale_count:
            p.append(f"stale counter {self._stale_count} != {len(stale)} stale slots")
        if self._pending_bytes != sum(n for _, n in self._pending_extents):
            p.append("pending byte counter != sum of pending extents")
        roles: dict[int, str] = {}
        for role, members in (("live", live), ("free", self._free_slots),
                              ("pending", self._pending_slots), ("stale", stale)):
            for i in members:
                if not 0 <= i < cap:
                    p.append(f"{role} slot {i} is outside the {cap} slots")
                elif i in roles:
                    p.append(f"slot {i} is both {roles[i]} and {role}")
                else:
                    roles[i] = role
        if len(roles) != cap:
            p.append(f"{cap - len(roles)} slot(s) are in no role (leaked)")
        seqs = self._seqs
        for i in self._free_slots:
            if 0 <= i < cap and seqs[i] != 0:
                p.append(f"free slot {i} still has sequence number {int(seqs[i])} on disk")
        for i in self._pending_slots:
            if 0 <= i < cap and seqs[i] != 0:
                p.append(f"removed slot {i} still has sequence number {int(seqs[i])} on disk")
        # live slots: on-disk fields equal the in-memory copies, checksums hold
        raw = self._slot_bytes
        arena_view = self._arena
        newest = 0
        stale_set = set(stale)
        for i in [*live, *(i for i in stale if 0 <= i < cap)]:  # the rest are named above
            s = self._slots[i]
            seq = int(s["seq"])
            newest = max(newest, seq)
            if seq == 0:
                p.append(f"live or stale slot {i} is unpublished on disk")
                continue
            o, n = int(s["off"]), int(s["length"])
            if o + n > arena:
                p.append(f"slot {i} extent [{o}, {o + n}) leaves the arena of {arena}")
                continue
            if slot_checksum(raw[i * size : (i + 1) * size].data,
                             arena_view[o : o + n].data) != int(s["crc"]):
                p.append(f"slot {i} fails its checksum")
            if i in stale_set:
                continue
            ident = bytes(s["id"][: int(s["id_len"])]).decode("utf-8", "replace")
            if ident != self._slot_ids[i]:
                p.append(f"slot {i} holds id {ident!r} on disk, {self._slot_ids[i]!r} in memory")
            if (o, n) != (int(self._offsets[i]), int(self._lengths[i])):
                p.append(f"slot {i} extent on disk ({o}, {n}) != in memory "
                         f"({int(self._offsets[i])}, {int(self._lengths[i])})")
            if float(s["confidence"]) != float(self._confidences[i]):
                p.append(f"slot {i} confidence on disk != in memory")
            if float(s["norm"]) != float(self._norms[i]):
                p.append(f"slot {i} norm on disk != in memory")
        if newest >= self._next_seq:
            p.append(f"a slot has sequence number {newest} >= next {self._next_seq}")
        # extents: inside the arena, disjoint, and live + pending + free = arena
        extents = sorted(
            [(int(self._offsets[i]), int(self._lengths[i])) for i in live if self._lengths[i]]
            + self._pending_extents
        )
        prev_end = 0
        for o, n in extents:
            if o < prev_end:
                p.append(f"extent at {o} overlaps the one ending at {prev_end}")
            prev_end = max(prev_end, o + n)
        held = sum(n for _, n in extents)
        if held != self._alloc.allocated_bytes:
            p.append(f"live + pending extents hold {held} bytes; the allocator has "
                     f"{self._alloc.allocated_bytes} allocated")
        free = self._alloc.free_extents()
        for o, n in free:
            for eo, en in extents:
                if eo < o + n and o < eo + en:
                    p.append(f"free extent [{o}, {o + n}) overlaps a held extent at {eo}")
                    break
        live_bytes = int(self._lengths[live].sum()) if live else 0
        if live_bytes != self._live_bytes:
            p.append(f"live byte counter {self._live_bytes} != sum of live lengths {live_bytes}")
        return p

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
        for name in ("_slots_mv", "_arena_mv"):
            view = getattr(self, name, None)
            if isinstance(view, memoryview):
                view.release()
        for name in ("_slots", "_seqs", "_embeddings", "_slot_bytes", "_arena", "_slots_mv",
                     "_arena_mv"):
            if hasattr(self, name):
                setattr(self, name, None)
        for f in (getattr(self, "_slots_file", None), getattr(self, "_content_file", None)):
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


def _round_up(n: int, to: int) -> int:
    return (n + to - 1) // to * to


def _initial(capacity: int, live: int) -> int:
    """Slot capacity after compaction: the next power of two holding ``live``, at most now."""
    target = 1
    while target < live:
        target *= 2
    return min(capacity, max(target, 16))

