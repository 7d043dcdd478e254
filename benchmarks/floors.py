"""What the reference store's slowest paths are up against, measured in the same run: the
bare numpy and hashing work each path cannot avoid, beside the path itself.

Each line is a median of interleaved repetitions on one store of the run's records, so
a missed target in ``tight.md`` comes with the part of it no Python code can remove.
"""

from __future__ import annotations

import random
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import xxhash

from benchmarks.write_floors import Measured, write_floors
from warmtier.store import _EXTENT, WarmTierStore, _make_record

REPS = 7
CHUNK = 4096
#: Records in the put floors' stores (each repetition writes fresh ones).
PUT_RECORDS = 50_000


def medians(steps: dict[str, Callable[[], Any]], reps: int = REPS) -> dict[str, float]:
    """Median seconds of each step, the steps interleaved rep by rep."""
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(reps):
        for name, step in steps.items():
            t0 = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - t0)
    return {name: float(np.median(ts)) for name, ts in times.items()}


def reference_store_under_test() -> bool:
    """Whether the run measures the reference store (the floors read its internals)."""
    from benchmarks.peers.warmtier_peer import _store_class

    return _store_class() is WarmTierStore


@dataclass
class Floors:
    """The floors as Markdown bullets, and ``shortest``: per target of the tight bench,
    what the shortest Python code doing the path's work took in this run: seconds per
    record for ``put``, ``get``, ``scan`` and ``put@batch``, seconds for ``open``
    (hashing and the index alone), and for ``search_many32`` the product of 32 queries
    alone as a multiple of one search on the same store, so a missed target can say
    whether Python can reach it at all."""

    lines: list[str] = field(default_factory=list)
    shortest: dict[str, float] = field(default_factory=dict)

    def add(self, lines: list[str], shortest: dict[str, float]) -> None:
        self.lines += lines
        self.shortest |= shortest


def measure_floors(data: Any, n: int, tmp: Path | None = None,
                   peers: dict[str, Any] | None = None) -> Floors:
    """The floors on a fresh reference store of ``n`` records of ``data`` (a
    ``benchmarks.tight.Data``); ``peers`` is the run's summary, for the figures a floor
    is set against."""
    root = Path(tempfile.mkdtemp(prefix="warmtier-floors-", dir=tmp))
    try:
        store = WarmTierStore.create(root / "s", dim=data.dim)
        for lo in range(0, n, 10_000):
            ids, embs, contents = data.chunk(lo, min(n, lo + 10_000))
            store.put_many(zip(ids, embs, contents, strict=True))
        store.close()
        floors = Floors()
        floors.add(*write_floors(data, min(n, PUT_RECORDS), root, peers))
        store = WarmTierStore.open(root / "s")
        try:
            for measure in (_search_floor, _read_floor, _scan_floor):
                floors.add(*measure(store, data))
            floors.add(*_open_floor(store, root / "s"))
        finally:
            store.close()
        return floors
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _search_floor(store: WarmTierStore, data: Any) -> Measured:
    q = np.asarray(data.queries[0], np.float32)
    queries = np.stack([data.queries[j % len(data.queries)] for j in range(32)]).astype(
        np.float32)
    rows = store._embeddings[: store._span()]  # the embeddings file, mapped (format 3)

    def product32() -> None:
        for lo in range(0, len(rows), CHUNK):
            rows[lo : lo + CHUNK] @ queries.T

    m = medians({"search": lambda: store.search(q, 10), "product": lambda: rows @ q,
                 "many": lambda: store.search_many(queries, 10), "product32": product32})
    ms = {k: v * 1e3 for k, v in m.items()}
    return [
        f"- **search**: {ms['search']:.2f} ms. The matrix-vector product over the store's "
        f"embedding rows alone, read in place from the mapping, takes {ms['product']:.2f} ms; "
        f"ranking (float32 candidates, float64 scores for the few near the k-th) adds "
        f"{ms['search'] - ms['product']:.2f} ms.",
        f"- **search_many of 32**: {ms['many']:.2f} ms, {m['many'] / m['search']:.2f}x one "
        f"search. The matrix product of 32 queries alone takes {ms['product32']:.2f} ms, "
        f"{m['product32'] / m['product']:.2f}x one query's product: one query is bound by "
        "memory, 32 by BLAS arithmetic on these cores.",
    ], {"search_many32": m["product32"] / m["search"]}


def _read_floor(store: WarmTierStore, data: Any) -> Measured:
    n = len(store)
    ids = [data.w.id(i) for i in random.Random(7).sample(range(n), min(n, 20_000))]
    lock, get, index = store._lock, store.get, store._index
    base, stride, row, mv = store._emb_base, store._emb_stride, 4 * store.dim, store._emb_mv
    size, slots, arena = store._slot_size, store._slots_mv, store._arena_mv

    def shortest() -> None:  # a get's work, inline: no call boundary, no check
        for id in ids:
            with lock:
                i = index[id]
                off, k, conf = _EXTENT.unpack_from(slots, i * size)
                e = base + i * stride
                _make_record(id, np.frombuffer(mv[e : e + row].tobytes(), np.float32),
                             arena[off : off + k].tobytes(), conf)

    def locks() -> None:
        for _ in ids:
            with lock:
                pass

    def copies() -> None:
        for id in ids:
            e = base + index[id] * stride
            np.frombuffer(mv[e : e + row].tobytes(), np.float32)

    def records() -> None:
        emb = np.zeros(store.dim, np.float32)
        for id in ids:
            _make_record(id, emb, b"", 1.0)

    def gets() -> None:
        for id in ids:
            get(id)

    m = medians({"get": gets, "shortest": shortest, "lock": locks, "copy": copies,
                 "record": records})
    us = {k: v / len(ids) * 1e6 for k, v in m.items()}
    return [
        f"- **get**: {us['get']:.2f} us per random get. The shortest Python code doing a "
        f"get's work on the same store (the lock, the index lookup, the extent, private "
        f"copies of the embedding and the content, the Record), inline with no call "
        f"boundary or check, takes {us['shortest']:.2f} us. Of that the lock is "
        f"{us['lock']:.2f} us, the embedding copy {us['copy']:.2f} us (a random 3 KB row: "
        f"memory latency) and building the Record {us['record']:.2f} us; LMDB's get in the "
        "table above is one C call returning bytes, and its harness builds no Record.",
    ], {"get": us["shortest"] / 1e6}


def _scan_floor(store: WarmTierStore, data: Any) -> Measured:
    t = store._table
    names = [str(t.ids[i]) for i in np.flatnonzero(t.live).tolist()]
    lock, rows, arena = store._lock, store._embeddings, store._arena_mv

    def scans() -> None:
        for _ in store.scan():
            pass

    def shortest() -> None:  # scan's work, inline (see the bullet below)
        with lock:
            slots = np.flatnonzero(t.live)
            held = t.ids
            live_ids = [held[i] for i in slots.tolist()]
        for lo in range(0, len(slots), 1024):
            part, batch = slots[lo : lo + 1024], live_ids[lo : lo + 1024]
            with lock:
                if [held[i] for i in part.tolist()] != batch:
                    raise RuntimeError("the store changed under the floor's scan")
                embs = rows[part]
                contents = [arena[o : o + k].tobytes() for o, k in zip(
                    t.offsets[part].tolist(), t.lengths[part].tolist(), strict=True)]
                confs = t.confidences[part].tolist()
            for name, emb, content, conf in zip(batch, embs, contents, confs, strict=True):
                _make_record(name, emb, content, conf)

    def records() -> None:
        emb = np.zeros(store.dim, np.float32)
        for name in names:
            _make_record(name, emb, b"", 1.0)

    m = medians({"scan": scans, "shortest": shortest, "record": records}, reps=3)
    us = {k: v / len(names) * 1e6 for k, v in m.items()}
    return [
        f"- **scan**: {us['scan']:.2f} us per record. The shortest Python code doing its "
        f"work (the ids live at the start; then per 1,024 of them, under the lock, the test "
        f"that their slots still hold them, a gather of their rows, a content copy and a "
        f"Record each) takes "
        f"{us['shortest']:.2f} us, of which building the Record alone {us['record']:.2f} "
        "us; LMDB's cursor yields bytes from C, and its harness builds no Record.",
    ], {"scan": us["shortest"] / 1e6}


def _open_floor(store: WarmTierStore, path: Path) -> Measured:
    live = np.flatnonzero(store._table.live)
    gb = len(live) * (store._slot_size + 4 * store.dim) / 1e9
    raws = [str(store._table.ids[i]).encode() for i in live.tolist()]
    m = _hashing(store, live)  # its views of the mapping are gone when it returns
    store.close()
    m |= medians({"open": lambda: WarmTierStore.open(path).close(),
                  "index": lambda: {r.decode(): j for j, r in enumerate(raws)}}, reps=3)
    return [
        f"- **open** ({len(live):,} records, every checksum): {m['open']:.2f} s. Hashing "
        f"every slot and its embedding ({gb:.2f} GB), one XXH3 call each, nothing else, "
        f"takes {m['slots']:.2f} s ({gb / m['slots']:.1f} GB/s on one core; xxhash releases "
        "the GIL, but two threads of small calls were slower than one, measured), and "
        f"every content {m['contents']:.2f} s: the loop and the calls are Python's. "
        f"Decoding the ids and building the index dict, nothing else, takes "
        f"{m['index']:.2f} s.",
    ], {"open": m["slots"] + m["contents"] + m["index"]}


def _hashing(store: WarmTierStore, live: Any) -> dict[str, float]:
    """Seconds to hash every live slot with its embedding row, and every live content,
    one call each."""
    size, row = store._slot_size, 4 * store.dim
    where = live.tolist()
    extents = list(zip(store._table.offsets[live].tolist(),
                       store._table.lengths[live].tolist(), strict=True))
    slots, rows, arena = store._slot_bytes.data, store._emb_mv, store._arena.data
    h = xxhash.xxh3_64_intdigest

    def hash_slots() -> None:
        for i in where:
            h(rows[i * row : (i + 1) * row], h(slots[i * size : (i + 1) * size]))

    def hash_contents() -> None:
        for o, k in extents:
            h(arena[o : o + k])

    return medians({"slots": hash_slots, "contents": hash_contents}, reps=3)
