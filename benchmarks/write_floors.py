"""What the reference store's writes are up against, measured in the same run: the bytes a
put or a put_many must write, written into the same kind of fresh files with nothing
else; beside put, its norm alone, and beside put_many, the shortest Python doing its work.

Each store is created at its final size, so growth is left out; only the loops are
timed (not create, nor the sync of close), medians of three repetitions.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from warmtier.batch_puts import Batch, _Place
from warmtier.format import ID_FIELD, SLOT_FIXED, checksums, slot_checksum
from warmtier.store import _FIXED_HEAD, _SLOT3, WarmTierStore

#: Records per put_many, as the bench's batches.
BATCH = 1000
#: The run's peer whose batch put_many is set against.
BATCH_PEER = "lmdb one txn/batch"


#: A floor's Markdown bullets, and the seconds of the shortest Python code doing a path's
#: work, by target (see ``benchmarks.floors.Floors``).
Measured = tuple[list[str], dict[str, float]]


def write_floors(data: Any, n: int, root: Path, peers: dict[str, Any] | None) -> Measured:
    """The put and put_many floors, on ``n`` records of ``data``."""
    put_lines, put = _put_floor(data, n, root)
    many_lines, many = _put_many_floor(data, n, root, peers or {})
    return [*put_lines, *many_lines], put | many


def _timed_loops(loops: dict[str, Callable[[WarmTierStore], None]], root: Path, dim: int,
                 n: int, arena: int) -> dict[str, float]:
    """Median us per record of each loop, each repetition on a fresh store of ``n`` slots
    and ``arena`` content bytes, the loops interleaved."""
    times: dict[str, list[float]] = {name: [] for name in loops}
    for rep in range(3):
        for name, loop in loops.items():
            path = root / f"floor-{name}-{rep}"
            with WarmTierStore.create(path, dim=dim, initial_capacity=n,
                                      initial_content_bytes=arena) as store:
                t0 = time.perf_counter()
                loop(store)
                times[name].append(time.perf_counter() - t0)
            shutil.rmtree(path, ignore_errors=True)
    return {name: float(np.median(ts)) / n * 1e6 for name, ts in times.items()}


def _put_floor(data: Any, n: int, root: Path) -> Measured:
    """Per put, on a store created at its final size (growth left out): the whole put,
    the same bytes written to the same kind of fresh files with nothing else, and the
    norm. Only the loops are timed (not create, nor the sync of close)."""
    ids, embs, contents = data.chunk(0, n)
    arena = sum(len(c) for c in contents) + 4096
    loops: dict[str, Callable[[WarmTierStore], None]] = {
        "put": lambda store: _puts(store, ids, embs, contents),
        "writes": lambda store: _bare_writes(store, ids, embs, contents),
        "norm": lambda store: _norms(store, embs),
    }
    us = _timed_loops(loops, root, data.dim, n, arena)
    rest = us["put"] - us["writes"] - us["norm"]
    return [
        f"- **put** ({n:,} records into a store created at that size, so without growth): "
        f"{us['put']:.2f} us. Writing the same bytes into the same fresh files, nothing "
        f"else (content, embedding row, fields, id, the XXH3 calls, the publish; the "
        f"pages mapped ahead as put maps them) takes {us['writes']:.2f} us, and the float64 norm, which is "
        f"also the finiteness check, {us['norm']:.2f} us. The other {rest:.2f} us are "
        "Python calls: validation, the slot and extent allocation, the index and slot "
        "table, the lock and four failpoints.",
    ], {"put": (us["writes"] + us["norm"]) / 1e6}


def _puts(store: WarmTierStore, ids: list[str], embs: Any, contents: list[bytes]) -> None:
    put = store.put
    for record in zip(ids, embs, contents, strict=True):
        put(*record)


def _norms(store: WarmTierStore, embs: Any) -> None:
    with store._lock:
        for emb in embs:
            store._norm(emb)


def _bare_writes(store: WarmTierStore, ids: list[str], embs: Any,
                 contents: list[bytes]) -> None:
    """What a put must write, record ``j`` into slot ``j``, through the store's views and
    as put writes it (and unpublished again at the end, so the store closes empty)."""
    mv, rows, arena, seqs = store._slots_mv, store._emb_mv, store._arena_mv, store._seqs
    table, body = store._embeddings, store._body
    size, row = store._slot_size, 4 * store.dim
    off = 0
    for j, (id, emb, content) in enumerate(zip(ids, embs, contents, strict=True)):
        raw, n, start, e = id.encode(), len(content), j * size, j * row
        store._prefault(j, off, n)
        arena[off : off + n] = content
        table[j] = emb
        _SLOT3.pack_into(body, 0, 0, len(raw), 0, j + 1, off, n, 1.0, 1.0, raw)
        crc = slot_checksum(body, content, 3, rows[e : e + row])
        _FIXED_HEAD.pack_into(body, 0, crc, len(raw), 0, 0)
        mv[start : start + SLOT_FIXED] = body
        seqs[j] = j + 1
        off += n
    seqs[:] = 0


def _put_many_floor(data: Any, n: int, root: Path, peers: dict[str, Any]) -> Measured:
    """Per record of a put_many of :data:`BATCH`: the whole call; the shortest Python doing
    its work; and the bytes alone. Set against the run's LMDB."""
    batches = [data.chunk(lo, min(n, lo + BATCH)) for lo in range(0, n, BATCH)]
    arena = sum(len(c) for _, _, cs in batches for c in cs) + 4096
    loops: dict[str, Callable[[WarmTierStore], None]] = {
        "put_many": lambda store: _put_manys(store, batches),
        "shortest": lambda store: _shortest_put_manys(store, batches),
        "bytes": lambda store: _bulk_writes(store, batches),
    }
    us = _timed_loops(loops, root, data.dim, n, arena)
    peer = peers.get(BATCH_PEER, {}).get("put", {}).get("ns_per_op")
    against = (f" LMDB's one write transaction per batch took {peer / 1e3:.2f} us a record in "
               f"this run: the shortest Python put_many is {us['shortest'] * 1e3 / peer:.2f}x "
               "that, the bytes alone "
               f"{us['bytes'] * 1e3 / peer:.2f}x." if peer else "")
    return [
        f"- **put_many** (batches of {BATCH:,}, {n:,} records into a store created at that "
        f"size): {us['put_many']:.2f} us a record. The shortest Python code doing its work "
        "(validating each record, the store's copy of the embeddings with their float64 "
        "norms, the contents, rows and slot fields written in bulk into the same fresh "
        "files with the pages mapped ahead, the checksums, the publishes; no lock, "
        f"allocation, index, slot table or failpoint) takes {us['shortest']:.2f} us, and "
        f"the bytes alone, nothing computed, {us['bytes']:.2f} us.{against}",
    ], {"put@batch": us["shortest"] / 1e6}


def _put_manys(store: WarmTierStore, batches: list[Any]) -> None:
    for ids, embs, contents in batches:
        store.put_many(zip(ids, embs, contents, strict=True))


def _shortest_put_manys(store: WarmTierStore, batches: list[Any]) -> None:
    """put_many's work inline, batch by batch into slots ``0, 1, ...`` (and unpublished at
    the end: the store closes empty)."""
    at = off = 0
    for ids, embs, contents in batches:
        rows = [store._checked_row(j, r) for j, r in enumerate(zip(ids, embs, contents,
                                                                  strict=True))]
        batch = Batch.of(rows, store.dim)
        at, off = _write_bulk(store, at, off, batch.raw_ids, batch.embeddings,
                              batch.contents, batch.norms)
    store._seqs[:] = 0


def _bulk_writes(store: WarmTierStore, batches: list[Any]) -> None:
    """The bytes put_many writes, as :func:`_shortest_put_manys` writes them, with nothing
    computed: no validation, norm or checksum."""
    at = off = 0
    for ids, embs, contents in batches:
        at, off = _write_bulk(store, at, off, [i.encode() for i in ids], embs, contents, None)
    store._seqs[:] = 0


def _write_bulk(store: WarmTierStore, at: int, off: int, raw_ids: list[bytes], embs: Any,
                contents: list[bytes], norms: Any) -> tuple[int, int]:
    """One batch into slots from ``at`` and the arena from ``off``, in put_many's order,
    checksummed when ``norms`` are given; the next slot and offset."""
    n, blob = len(raw_ids), b"".join(contents)
    lengths = np.fromiter(map(len, contents), np.int64, n)
    slots = np.arange(at, at + n)
    offsets = off + np.cumsum(lengths) - lengths
    store._prefault_batch(_Place(slots.tolist(), slots, offsets, off, len(blob)))
    store._arena_mv[off : off + len(blob)] = blob
    store._embeddings[at : at + n] = embs
    body = np.zeros(n, store._dtype)
    body["id_len"] = np.fromiter(map(len, raw_ids), np.int64, n)
    body["off"], body["length"] = offsets, lengths
    body["id"] = np.array(raw_ids, f"S{ID_FIELD}").view(np.uint8).reshape(n, ID_FIELD)
    if norms is not None:
        body["seq"], body["norm"] = slots + 1, norms
        body["crc"] = checksums(
            body.view(np.uint8).data, np.ascontiguousarray(embs).reshape(-1).view(np.uint8).data,
            store._arena_mv, zip(offsets.tolist(), lengths.tolist(), strict=True),
            store._slot_size, 4 * store.dim)
        body["seq"] = 0
    store._slots[at : at + n] = body
    store._seqs[at : at + n] = slots + 1
    return at + n, off + len(blob)
