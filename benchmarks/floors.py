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
from pathlib import Path
from typing import Any

import numpy as np
import xxhash

from warmtier.format import SLOT_FIXED
from warmtier.store import WarmTierStore

REPS = 7
CHUNK = 4096


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


def floor_lines(data: Any, n: int, tmp: Path | None = None) -> list[str]:
    """The floors, as Markdown bullets, on a fresh reference store of ``n`` records of
    ``data`` (a ``benchmarks.tight.Data``)."""
    root = Path(tempfile.mkdtemp(prefix="warmtier-floors-", dir=tmp))
    try:
        store = WarmTierStore.create(root / "s", dim=data.dim)
        for lo in range(0, n, 10_000):
            ids, embs, contents = data.chunk(lo, min(n, lo + 10_000))
            store.put_many(zip(ids, embs, contents, strict=True))
        store.close()
        store = WarmTierStore.open(root / "s")
        try:
            return [*_search_lines(store, data), *_read_lines(store, data, n),
                    *_open_lines(store, root / "s")]
        finally:
            store.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _search_lines(store: WarmTierStore, data: Any) -> list[str]:
    q = np.asarray(data.queries[0], np.float32)
    queries = np.stack([data.queries[j % len(data.queries)] for j in range(32)]).astype(
        np.float32)
    strided = store._embeddings[: store._span()]
    dense = np.ascontiguousarray(strided)

    def product32() -> None:
        for lo in range(0, len(strided), CHUNK):
            strided[lo : lo + CHUNK] @ queries.T

    m = medians({"search": lambda: store.search(q, 10), "strided": lambda: strided @ q,
                 "dense": lambda: dense @ q, "many": lambda: store.search_many(queries, 10),
                 "product32": product32})
    ms = {k: v * 1e3 for k, v in m.items()}
    return [
        f"- **search**: {ms['search']:.2f} ms. The matrix-vector product over the slots' "
        f"embeddings alone takes {ms['strided']:.2f} ms, {m['strided'] / m['dense']:.2f}x "
        f"the same product over a dense copy ({ms['dense']:.2f} ms): each 3 KB embedding "
        "sits inside a slot with its id and fields, and the stride costs memory traffic. "
        f"Ranking adds {ms['search'] - ms['strided']:.2f} ms. Reaching the dense floor "
        "needs a separate dense embedding file, a format change.",
        f"- **search_many of 32**: {ms['many']:.2f} ms, {m['many'] / m['search']:.2f}x one "
        f"search. The matrix product of 32 queries alone takes {ms['product32']:.2f} ms, "
        f"{m['product32'] / m['strided']:.2f}x one query's product: one query is bound by "
        "memory, 32 by BLAS arithmetic on these cores.",
    ]


def _read_lines(store: WarmTierStore, data: Any, n: int) -> list[str]:
    ids = [data.w.id(i) for i in random.Random(7).sample(range(n), min(n, 20_000))]
    slots = [store._index[i] for i in ids]
    size, dim, mv = store._slot_size, store.dim, store._slots_mv
    lock, get = store._lock, store.get

    def locks() -> None:
        for _ in ids:
            with lock:
                pass

    def copies() -> None:
        for i in slots:
            start = i * size + SLOT_FIXED
            np.frombuffer(mv[start : start + 4 * dim].tobytes(), np.float32)

    def gets() -> None:
        for i in ids:
            get(i)

    m = medians({"get": gets, "lock": locks, "copy": copies})
    us = {k: v / len(ids) * 1e6 for k, v in m.items()}
    return [
        f"- **get**: {us['get']:.2f} us per random get. Of that, the lock takes "
        f"{us['lock']:.2f} us and the private copy of the embedding as a numpy array "
        f"{us['copy']:.2f} us (one bytes copy and np.frombuffer); the rest is the index "
        "lookup, the content copy and the Record, each a Python call. LMDB's get returns "
        "one bytes object from C.",
    ]


def _open_lines(store: WarmTierStore, path: Path) -> list[str]:
    live = np.flatnonzero(store._table.live)
    gb = len(live) * store._slot_size / 1e9
    m = _hashing(store, live)  # its views of the mapping are gone when it returns
    store.close()
    m |= medians({"open": lambda: WarmTierStore.open(path).close()}, reps=3)
    return [
        f"- **open** ({len(live):,} records, every checksum): {m['open']:.2f} s. Hashing "
        f"every slot ({gb:.2f} GB) in one XXH3 call per slot, nothing else, takes "
        f"{m['slots']:.2f} s ({gb / m['slots']:.1f} GB/s on one core; xxhash releases "
        "the GIL, but two threads of small calls were slower than one, measured), and "
        f"every content {m['contents']:.2f} s: the loop and the calls are Python's.",
    ]


def _hashing(store: WarmTierStore, live: Any) -> dict[str, float]:
    """Seconds to hash every live slot, and every live content, one call each."""
    size = store._slot_size
    starts = (live * size).tolist()
    extents = list(zip(store._table.offsets[live].tolist(),
                       store._table.lengths[live].tolist(), strict=True))
    slots, arena, h = store._slot_bytes.data, store._arena.data, xxhash.xxh3_64_intdigest

    def hash_slots() -> None:
        for st in starts:
            h(slots[st : st + size])

    def hash_contents() -> None:
        for o, k in extents:
            h(arena[o : o + k])

    return medians({"slots": hash_slots, "contents": hash_contents}, reps=3)
