"""The scale scenarios, written once and run at any size: the smoke versions in the CI
gate and the nightly ones in ``tests/scale`` call the same functions.

Each scenario drives a store only through the public contract and returns one
:class:`~warmtier.perf.result.ScenarioResult`: its figures, plot data and notes (which
the test keeps with ``perf.record(result)``) and its problems (empty when the store
behaved).
"""

from __future__ import annotations

import random
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from warmtier.model import ModelStore
from warmtier.perf.measure import Latencies, dir_bytes, rss_breakdown, rss_bytes, settle
from warmtier.perf.progress import Phase, Progress
from warmtier.perf.result import ScenarioResult
from warmtier.perf.stats import (
    Better,
    LinearFit,
    TrendBreak,
    cliffs_delta,
    find_trend_breaks,
    linear_fit,
    mann_whitney_p,
    percentiles,
)
from warmtier.perf.workload import Workload, fingerprints
from warmtier.testing.concurrency.races import Role, run_workload

__all__ = [
    "ScenarioResult",
    "describe_record",
    "fill",
    "run_cliff",
    "run_concurrency",
    "run_fragmentation",
    "run_latency",
    "run_leak",
    "run_million",
    "run_roundtrip",
    "same_record",
    "stats_dict",
    "timed_scan",
    "verify_by_get",
    "verify_by_scan",
]

StoreFactory = Callable[[int], Any]
"""``factory(dim)`` creates a fresh, empty store of the class under test."""

MB = 1024 * 1024
MAX_PROBLEMS = 10


# -- comparing records through the contract ----------------------------------------------


def same_record(got: Any, id: str, emb: npt.NDArray[np.float32], content: bytes,
                confidence: float) -> bool:
    """``got`` (any store's record) holds exactly these values, bit for bit."""
    if got is None or got.id != id or bytes(got.content) != content:
        return False
    if np.float32(got.confidence).tobytes() != np.float32(confidence).tobytes():
        return False
    e = np.asarray(got.embedding)
    return e.dtype == np.float32 and e.shape == emb.shape and e.tobytes() == emb.tobytes()


def describe_record(rec: Any) -> str:
    if rec is None:
        return "None"
    return (
        f"Record(id={rec.id!r}, content={len(rec.content)} B {bytes(rec.content[:24])!r}..., "
        f"confidence={rec.confidence!r}, embedding[:3]={np.asarray(rec.embedding)[:3]!r})"
    )


def stats_dict(store: Any) -> dict[str, Any]:
    s = store.stats()
    return {
        "records": int(s.records),
        "capacity": int(s.capacity),
        "content_live_bytes": int(s.content_live_bytes),
        "content_allocated_bytes": int(s.content_allocated_bytes),
        "fragmentation": float(s.fragmentation),
    }


# -- driving a store ---------------------------------------------------------------------


def fill(
    store: Any,
    workload: Workload,
    start: int,
    stop: int,
    *,
    batch: int = 1000,
    latencies: Latencies | None = None,
    phase: Phase | None = None,
    model: ModelStore | None = None,
    on_batch: Callable[[int, int, npt.NDArray[np.float32]], None] | None = None,
) -> list[float]:
    """Put records ``start..stop-1``; return the put rate (ops/s) of each batch.

    Data for a batch is generated before its clock starts. With ``latencies`` every put
    is timed on its own; ``on_batch(lo, hi, embeddings)`` sees each batch's embeddings
    (for expected search scores and fingerprints) outside the clock.
    """
    rates: list[float] = []
    put = store.put
    for lo in range(start, stop, batch):
        hi = min(lo + batch, stop)
        emb = workload.embeddings(lo, hi)
        rows = [
            (workload.id(i), emb[i - lo], workload.content(i), workload.confidence(i))
            for i in range(lo, hi)
        ]
        if latencies is None:
            t0 = time.perf_counter()
            for id, e, c, conf in rows:
                put(id, e, c, conf)
            elapsed = time.perf_counter() - t0
        else:
            clock = time.perf_counter_ns
            add = latencies.recorder_ns()
            t0 = time.perf_counter()
            for id, e, c, conf in rows:
                s = clock()
                put(id, e, c, conf)
                add(clock() - s)
            elapsed = time.perf_counter() - t0
        rates.append((hi - lo) / elapsed if elapsed > 0 else float("inf"))
        if model is not None:
            for id, e, c, conf in rows:
                model.put(id, e, c, conf)
        if on_batch is not None:
            on_batch(lo, hi, emb)
        if phase is not None:
            phase.advance(hi - lo)
    return rates


def timed_gets(store: Any, ids: Sequence[str], latencies: Latencies) -> list[Any]:
    """Get each id with its own clock; return the records."""
    out = []
    get = store.get
    clock = time.perf_counter_ns
    add = latencies.recorder_ns()
    for id in ids:
        s = clock()
        rec = get(id)
        add(clock() - s)
        out.append(rec)
    return out


def timed_scan(store: Any) -> tuple[float, int]:
    """Seconds to iterate every record (touching each id), and how many came."""
    n = 0
    t0 = time.perf_counter()
    for rec in store.scan():
        rec.id  # noqa: B018 - touch the record like a consumer would
        n += 1
    return time.perf_counter() - t0, n


def verify_by_get(
    store: Any, workload: Workload, indices: Iterable[int], phase: Phase | None = None
) -> list[str]:
    """Every record ``i`` reads back exactly; at most ten problems, described."""
    problems: list[str] = []
    chunk: list[int] = []

    def flush() -> None:
        if not chunk:
            return
        for i in chunk:
            id = workload.id(i)
            got = store.get(id)
            if not same_record(got, id, workload.embedding(i), workload.content(i),
                               workload.confidence(i)):
                problems.append(
                    f"get({id!r}): expected {workload.sizes[i]} B of content and the "
                    f"workload's embedding; got {describe_record(got)}"
                )
        if phase is not None:
            phase.advance(len(chunk))
        chunk.clear()

    for i in sorted(indices):
        chunk.append(i)
        if len(chunk) >= 1024:
            flush()
        if len(problems) >= MAX_PROBLEMS:
            break
    flush()
    return problems[:MAX_PROBLEMS]


def verify_by_scan(
    store: Any, workload: Workload, expected: npt.NDArray[np.int64] | None,
    live: set[int] | None, phase: Phase | None = None,
) -> tuple[int, list[str]]:
    """One untimed scan: every live record exactly once, content exact, embedding equal
    to ``expected`` fingerprints (row ``i`` for record ``i``; ``None`` skips them)."""
    problems: list[str] = []
    seen: set[int] = set()
    pending_idx: list[int] = []
    pending_emb: list[npt.NDArray[np.float32]] = []

    def check_embeddings() -> None:
        if expected is not None and pending_idx:
            got = fingerprints(np.stack(pending_emb))
            want = expected[np.asarray(pending_idx)]
            bad = np.flatnonzero((got != want).any(axis=1))
            for b in bad[:MAX_PROBLEMS]:
                problems.append(
                    f"scan: {workload.id(pending_idx[b])} has an embedding other than the one put"
                )
        pending_idx.clear()
        pending_emb.clear()

    for rec in store.scan():
        i = workload.index(rec.id)
        if i in seen:
            problems.append(f"scan yielded {rec.id!r} twice")
        seen.add(i)
        if bytes(rec.content) != workload.content(i):
            problems.append(f"scan: {rec.id} content differs: {describe_record(rec)}")
        pending_idx.append(i)
        pending_emb.append(np.asarray(rec.embedding))
        if len(pending_idx) >= 4096:
            check_embeddings()
            if phase is not None:
                phase.advance(4096)
        if len(problems) >= MAX_PROBLEMS:
            break
    check_embeddings()
    if live is not None and len(problems) < MAX_PROBLEMS:
        missing = live - seen
        extra = seen - live
        if missing:
            problems.append(f"scan missed {len(missing)} live records, e.g. "
                            f"{[workload.id(i) for i in sorted(missing)[:3]]}")
        if extra:
            problems.append(f"scan yielded {len(extra)} records that are not live, e.g. "
                            f"{[workload.id(i) for i in sorted(extra)[:3]]}")
    return len(seen), problems[:MAX_PROBLEMS]


def _figure_latency(result: ScenarioResult, name: str, lat: Latencies) -> dict[str, float]:
    us = lat.us()
    result.figure(name, us, unit="us", better="lower", scenario=result.name)
    return percentiles(us)


def _timed_scans(store: Any, n: int, scans: int, phase: Phase) -> tuple[list[float], list[str]]:
    """``scans`` full scans of a store of ``n``: each one's items per second, and a problem
    for each that did not yield ``n`` records."""
    rates: list[float] = []
    problems: list[str] = []
    for _ in range(scans):
        secs, count = timed_scan(store)
        rates.append(count / secs)
        phase.advance(n)
        if count != n:
            problems.append(f"scan yielded {count} records; expected {n}")
    return rates, problems


def _first_bad_get(
    store: Any, w: Workload, picks: list[int], latencies: Latencies
) -> tuple[int, Any] | None:
    """Get each of ``picks`` with its own clock; the first (in index order) that does not
    read back as the workload's record, with what the store returned; None when all do."""
    got = timed_gets(store, [w.id(i) for i in picks], latencies)
    for i, rec in sorted(zip(picks, got, strict=True), key=lambda pair: pair[0]):
        if not same_record(rec, w.id(i), w.embedding(i), w.content(i), w.confidence(i)):
            return i, rec
    return None


# -- scenario 1: round trip --------------------------------------------------------------


def run_roundtrip(
    make: StoreFactory, progress: Progress, *, n: int, dim: int,
    differential: bool = True, batch: int = 1000, seed: int = 1,
) -> ScenarioResult:
    """Put ``n`` records in batches, get each back in random order, compare with the
    workload and (``differential``) the model. Figures: put rate, put/get latency, RSS."""
    w = Workload(n, dim=dim, seed=seed)
    store = make(dim)
    model = ModelStore(dim) if differential else None
    rss0 = settle()
    put_lat = Latencies()
    rates = fill(store, w, 0, n, batch=batch, latencies=put_lat,
                 phase=progress.phase(f"roundtrip {n:,}: put", n), model=model)
    rss1 = settle()
    order = list(range(n))
    random.Random(seed).shuffle(order)
    get_lat = Latencies()
    phase = progress.phase(f"roundtrip {n:,}: get", n)
    problems: list[str] = []
    read: list[tuple[int, Any]] = []
    for lo in range(0, n, batch):
        idx = order[lo : lo + batch]
        got = timed_gets(store, [w.id(i) for i in idx], get_lat)
        read += zip(idx, got, strict=True)
        phase.advance(len(idx))
    read.sort(key=lambda pair: pair[0])  # index order: each embedding chunk made once
    for i, rec in read:
        if len(problems) >= MAX_PROBLEMS:
            break
        id = w.id(i)
        if not same_record(rec, id, w.embedding(i), w.content(i), w.confidence(i)):
            problems.append(f"get({id!r}) after put: expected the workload's record "
                            f"({w.sizes[i]} B content); got {describe_record(rec)}")
        if model is not None:
            want = model.get(id)
            assert want is not None
            if not same_record(rec, want.id, want.embedding, want.content, want.confidence):
                problems.append(f"get({id!r}): store and model differ: store "
                                f"{describe_record(rec)}, model {describe_record(want)}")
    if len(store) != n:
        problems.append(f"len(store): expected {n}, got {len(store)}")
    if model is not None and sorted(store.ids()) != sorted(model.ids()):
        problems.append("ids(): store and model hold different id sets")
    rss2 = settle()
    result = ScenarioResult("roundtrip", n, problems=problems)
    result.figure("roundtrip.put_rate", rates, unit="ops/s", better="higher")
    _figure_latency(result, "roundtrip.put_us", put_lat)
    _figure_latency(result, "roundtrip.get_us", get_lat)
    result.figure("roundtrip.rss_growth_mb", [(rss1 - rss0) / MB], unit="MB", better="lower")
    result.plots[f"roundtrip@{n}"] = {
        "rss_before_mb": rss0 / MB, "rss_after_put_mb": rss1 / MB, "rss_after_get_mb": rss2 / MB,
        "path_bytes": dir_bytes(store.path) if getattr(store, "path", None) else None,
    }
    store.close()
    return result


# -- scenario 2: latency percentiles at 100K ---------------------------------------------


def run_latency(
    make: StoreFactory, progress: Progress, *, n: int, dim: int,
    gets: int = 1000, scans: int = 3, seed: int = 2,
) -> ScenarioResult:
    """Fill ``n`` with every put timed; early against late put p99; ``scans`` full scans;
    ``gets`` random gets. Verifies every record once by scan."""
    w = Workload(n, dim=dim, seed=seed)
    store = make(dim)
    expected = np.empty((n, 2), dtype=np.int64)

    def keep(lo: int, hi: int, emb: npt.NDArray[np.float32]) -> None:
        expected[lo:hi] = fingerprints(emb)

    put_lat = Latencies()
    rates = fill(store, w, 0, n, latencies=put_lat, on_batch=keep,
                 phase=progress.phase(f"latency {n:,}: put", n))
    tenth = max(1, n // 10)
    early, late = put_lat.slice_us(0, tenth), put_lat.slice_us(n - tenth)
    early_p99, late_p99 = float(np.percentile(early, 99)), float(np.percentile(late, 99))
    degradation = {
        "early_p99_us": early_p99, "late_p99_us": late_p99, "ratio": late_p99 / early_p99,
        "mann_whitney_p": mann_whitney_p(late, early), "cliffs_delta": cliffs_delta(late, early),
    }
    scan_rates, problems = _timed_scans(
        store, n, scans, progress.phase(f"latency {n:,}: scan x{scans}", scans * n))
    rng = random.Random(seed)
    picks = [rng.randrange(n) for _ in range(gets)]
    get_lat = Latencies()
    bad = _first_bad_get(store, w, picks, get_lat)
    if bad is not None:
        i, rec = bad
        problems.append(f"get({w.id(i)!r}): expected the workload's record; got "
                        f"{describe_record(rec)}")
    _count, scan_problems = verify_by_scan(store, w, expected, set(range(n)),
                                           progress.phase(f"latency {n:,}: verify", n))
    problems += scan_problems
    result = ScenarioResult("latency", n, problems=problems)
    result.figure("latency.put_rate", rates, unit="ops/s", better="higher")
    put_p = _figure_latency(result, "latency.put_us", put_lat)
    get_p = _figure_latency(result, "latency.get_us", get_lat)
    result.figure("latency.put_early_us", early, unit="us", better="lower")
    result.figure("latency.put_late_us", late, unit="us", better="lower")
    result.figure("latency.scan_items_per_s", scan_rates, unit="items/s", better="higher")
    result.plots[f"latency@{n}"] = {"put": put_p, "get": get_p, "degradation": degradation}
    if degradation["ratio"] > 2 and degradation["mann_whitney_p"] < 0.01:
        result.note(f"put p99 degrades as the store fills to {n:,}: early {early_p99:.1f} us, "
                  f"late {late_p99:.1f} us (Cliff's delta {degradation['cliffs_delta']:+.2f})")
    store.close()
    return result


# -- scenario 3: a million records -------------------------------------------------------


def run_million(
    make: StoreFactory, open_store: Callable[[str], Any], progress: Progress, *,
    n: int, dim: int, scans: int = 3, queries: int = 5, opens: int = 3, seed: int = 3,
) -> ScenarioResult:
    """Build ``n``; scan all; search with planted queries (exact top-10 checked); close
    and ``open()``; RSS and file sizes. Returns problems and the headline figures."""
    w = Workload(n, dim=dim, seed=seed)
    rng = random.Random(seed)
    targets = [rng.randrange(n) for _ in range(queries)]
    exact = _ExactAnswers(w, targets, n)
    rss0 = settle()
    store = make(dim)
    t0 = time.perf_counter()
    rates = fill(store, w, 0, n, batch=4096, on_batch=exact.keep,
                 phase=progress.phase(f"{n:,}: build", n))
    build_s = time.perf_counter() - t0
    store.flush()
    rss_built = rss_bytes()
    scan_rates, problems = _timed_scans(store, n, scans,
                                        progress.phase(f"{n:,}: scan x{scans}", scans * n))
    search_s, found = _timed_searches(store, w, targets, exact.scores,
                                      progress.phase(f"{n:,}: search x{queries}", queries))
    problems += found
    files = dir_bytes(store.path)
    path = store.path
    store.close()
    store, open_s, found = _timed_opens(open_store, path, n, opens,
                                        progress.phase(f"{n:,}: close + open x{opens}", opens))
    problems += found
    count, found = verify_by_scan(store, w, exact.fingerprints, None,
                                  progress.phase(f"{n:,}: verify all", n))
    if count != n:
        problems.append(f"verifying scan after open() saw {count} records; expected {n}")
    problems += found
    rss_end = rss_bytes()
    store.close()
    result = ScenarioResult("million", n, problems=problems)
    result.figure("million.put_rate", rates, unit="ops/s", better="higher")
    result.figure("million.build_s", [build_s], unit="s", better="lower")
    result.figure("million.scan_items_per_s", scan_rates, unit="items/s", better="higher")
    result.figure("million.search_s", search_s, unit="s", better="lower")
    result.figure("million.open_s", open_s, unit="s", better="lower")
    result.figure("million.rss_mb", [rss_built / MB, rss_end / MB], unit="MB", better="lower")
    result.figure("million.file_mb", [files["apparent"] / MB], unit="MB", better="lower")
    result.plots[f"million@{n}"] = {
        "build_s": build_s, "put_rate_median": float(np.median(rates)),
        "scan_items_per_s": scan_rates, "search_s": search_s, "open_s": open_s,
        "rss_before_mb": rss0 / MB, "rss_built_mb": rss_built / MB, "rss_end_mb": rss_end / MB,
        "files": files,
    }
    return result


class _ExactAnswers:
    """What a build of ``n`` records must give back, gathered batch by batch as
    :func:`fill`'s ``on_batch`` (:meth:`keep`): each record's embedding fingerprint and its
    exact cosine score against each planted query (the query of each target)."""

    def __init__(self, w: Workload, targets: Sequence[int], n: int) -> None:
        # Queries must exist before the build streams past their targets.
        qs = np.stack([w.query(t) for t in targets]).astype(np.float64)
        qs /= np.linalg.norm(qs, axis=1, keepdims=True)
        self.queries = qs
        self.scores = np.empty((len(targets), n), dtype=np.float64)
        self.fingerprints = np.empty((n, 2), dtype=np.int64)

    def keep(self, lo: int, hi: int, emb: npt.NDArray[np.float32]) -> None:
        self.fingerprints[lo:hi] = fingerprints(emb)
        e = emb.astype(np.float64)
        norms = np.linalg.norm(e, axis=1)
        norms[norms == 0] = np.inf
        self.scores[:, lo:hi] = (self.queries @ e.T) / norms


def _timed_searches(
    store: Any, w: Workload, targets: Sequence[int], scores: npt.NDArray[np.float64],
    phase: Phase,
) -> tuple[list[float], list[str]]:
    """One timed top-10 search per planted query: the seconds of each, and the problems of
    results that differ from the exact top-10 (``scores[q]`` for query ``q``)."""
    seconds: list[float] = []
    problems: list[str] = []
    for qi, target in enumerate(targets):
        t0 = time.perf_counter()
        top = store.search(w.query(target), k=10)
        seconds.append(time.perf_counter() - t0)
        want = np.argsort(-scores[qi], kind="stable")[:10]
        problems += _check_top(top, want, scores[qi], w, target)
        phase.advance(1)
    return seconds, problems


def _timed_opens(
    open_store: Callable[[str], Any], path: str, n: int, opens: int, phase: Phase
) -> tuple[Any, list[float], list[str]]:
    """Open the store at ``path`` ``opens`` times (at least once), checking it holds ``n``
    records; return the last one, still open, the seconds of each open and the problems."""
    seconds: list[float] = []
    problems: list[str] = []
    for attempt in range(opens):
        t0 = time.perf_counter()
        store = open_store(path)
        seconds.append(time.perf_counter() - t0)
        if len(store) != n:
            problems.append(f"len after open(): expected {n}, got {len(store)}")
        if attempt + 1 < opens:
            store.close()
        phase.advance(1)
    return store, seconds, problems


def _check_top(top: list[tuple[str, float]], want: npt.NDArray[np.intp],
               scores: npt.NDArray[np.float64], w: Workload, target: int) -> list[str]:
    """The store's top-10 equals the exact one, allowing float32 rounding near ties."""
    problems = []
    got_ids = [id for id, _ in top]
    want_ids = [w.id(int(i)) for i in want]
    if len(top) != len(want):
        return [f"search returned {len(top)} results; expected {len(want)}"]
    if got_ids[0] != w.id(target):
        problems.append(f"search: the planted record {w.id(target)} should rank first; "
                        f"got {got_ids[:3]}")
    kth = float(scores[want[-1]])
    for id, score in top:
        true = float(scores[w.index(id)])
        if abs(true - score) > 1e-4 or true < kth - 1e-4:
            problems.append(f"search: {id} scored {score:.6f} (true {true:.6f}); expected "
                            f"top-10 {want_ids}")
            break
    return problems


# -- scenario 4: fragmentation lifecycle -------------------------------------------------


def run_fragmentation(
    make: StoreFactory, progress: Progress, *, n: int, dim: int,
    refill: int = 10_000, seed: int = 4,
) -> ScenarioResult:
    """Store ``n`` (FRAGMENTATION_MIX), remove every even record, store ``refill`` more,
    verify every record against the model, ``compact()``, verify again."""
    from warmtier.perf.workload import FRAGMENTATION_MIX

    w = Workload(n + refill, dim=dim, mix=FRAGMENTATION_MIX, seed=seed)
    store = make(dim)
    model = ModelStore(dim)
    stages: dict[str, Any] = {}
    fill(store, w, 0, n, model=model, phase=progress.phase(f"fragmentation {n:,}: store", n))
    stages["stored"] = stats_dict(store)
    phase = progress.phase(f"fragmentation {n:,}: remove evens", n // 2)
    problems: list[str] = []
    for i in range(0, n, 2):
        r1, r2 = store.remove(w.id(i)), model.remove(w.id(i))
        if r1 != r2:
            problems.append(f"remove({w.id(i)!r}): model says {r2}, store says {r1}")
        phase.advance(1)
    stages["after_remove"] = stats_dict(store)
    fill(store, w, n, n + refill, model=model,
         phase=progress.phase(f"fragmentation {n:,}: store {refill:,} more", refill))
    stages["after_refill"] = stats_dict(store)
    live = sorted(w.index(id) for id in model.ids())
    problems += _verify_against_model(store, model, w, live, "before compact()", progress)
    big = [i for i in live if w.sizes[i] >= 100 * 1024]
    problems += [f"100 KB record: {p}" for p in verify_by_get(store, w, big)]
    t0 = time.perf_counter()
    compaction = store.compact()
    compact_s = time.perf_counter() - t0
    stages["after_compact"] = stats_dict(store)
    stages["compaction"] = {
        "bytes_before": int(compaction.bytes_before), "bytes_after": int(compaction.bytes_after),
        "bytes_reclaimed": int(compaction.bytes_reclaimed), "seconds": compact_s,
    }
    problems += _verify_against_model(store, model, w, live, "after compact()", progress)
    problems += [f"100 KB record after compact(): {p}" for p in verify_by_get(store, w, big)]
    before = stages["after_refill"]["fragmentation"]
    after = stages["after_compact"]["fragmentation"]
    c = stages["compaction"]
    if c["bytes_before"] - c["bytes_after"] != c["bytes_reclaimed"]:
        problems.append(f"compact(): bytes_before - bytes_after = "
                        f"{c['bytes_before'] - c['bytes_after']}; bytes_reclaimed says "
                        f"{c['bytes_reclaimed']}")
    if before > 0 and not after < before:
        problems.append(f"compact() should lower fragmentation: expected < {before:.3f}, "
                        f"got {after:.3f}")
    if stages["after_compact"]["content_live_bytes"] != stages["after_refill"]["content_live_bytes"]:
        problems.append("compact() changed content_live_bytes: expected "
                        f"{stages['after_refill']['content_live_bytes']}, got "
                        f"{stages['after_compact']['content_live_bytes']}")
    result = ScenarioResult("fragmentation", n, problems=problems)
    result.figure("fragmentation.before_compact", [before], unit="ratio", better="lower")
    result.figure("fragmentation.after_compact", [after], unit="ratio", better="lower")
    result.figure("fragmentation.compact_s", [compact_s], unit="s", better="none")
    result.plots["fragmentation"] = stages
    store.close()
    return result


def _verify_against_model(store: Any, model: ModelStore, w: Workload, live: list[int],
                          when: str, progress: Progress) -> list[str]:
    problems: list[str] = []
    if len(store) != len(model):
        problems.append(f"{when}: len(store) = {len(store)}; the model has {len(model)}")
    if set(store.ids()) != set(model.ids()):
        problems.append(f"{when}: ids() differ from the model's")
    phase = progress.phase(f"verify {when}", len(live))
    for i in live:
        id = w.id(i)
        got, want = store.get(id), model.get(id)
        assert want is not None
        if not same_record(got, want.id, want.embedding, want.content, want.confidence):
            problems.append(f"{when}: get({id!r}) = {describe_record(got)}; the model holds "
                            f"{describe_record(want)}")
            if len(problems) >= MAX_PROBLEMS:
                break
    phase.advance(len(live))
    return problems


# -- scenario 5: leak check --------------------------------------------------------------


def _leak_problem(fit: LinearFit, anon_fit: LinearFit | None, limit_mb: float,
                  rss: list[float], anon: list[float]) -> list[str]:
    """A slope clearly above the limit (its whole confidence interval is), of total RSS or,
    where the OS tells it apart, of anonymous memory: one problem describing both."""
    fits = [fit] + ([anon_fit] if anon_fit is not None else [])
    if not any(f.ci_low > limit_mb for f in fits):
        return []
    text = f"RSS {fit.describe(' MB/cycle')}"
    if anon_fit is not None:
        text += f"; anonymous memory {anon_fit.describe(' MB/cycle')}"
    return [f"expected memory slopes not clearly above {limit_mb} MB/cycle; got {text}; "
            f"RSS per cycle (MB): {[round(x, 2) for x in rss]}; "
            f"anonymous: {[round(x, 2) for x in anon]}"]


def run_leak(
    make: StoreFactory, progress: Progress, *, per_cycle: int, cycles: int,
    dim: int, limit_mb: float = 1.0, seed: int = 5,
) -> ScenarioResult:
    """One warm-up cycle, then ``cycles`` cycles of ``per_cycle`` puts of fresh ids and
    their removal; RSS (and anonymous RSS) after each; least-squares slopes, 95% CIs.
    A slope clearly above ``limit_mb`` per cycle is a problem."""
    w = Workload(per_cycle * (cycles + 1), dim=dim, seed=seed)
    store = make(dim)
    problems: list[str] = []
    rss: list[float] = []
    anon: list[float] = []
    phase = progress.phase(f"leak: {cycles} cycles of {per_cycle:,}", (cycles + 1) * per_cycle)
    for cycle in range(cycles + 1):
        lo = cycle * per_cycle
        fill(store, w, lo, lo + per_cycle)
        for i in range(lo, lo + per_cycle):
            if not store.remove(w.id(i)):
                problems.append(f"remove({w.id(i)!r}) right after its put returned False")
                break
        if len(store) != 0:
            problems.append(f"cycle {cycle}: len(store) = {len(store)} after removing all")
        settle()
        sample = rss_breakdown()
        if cycle > 0:  # the warm-up cycle maps and sizes everything once
            rss.append(sample["rss"] / MB)
            anon.append(sample["anon"] / MB)
        phase.advance(per_cycle)
    xs = np.arange(1, len(rss) + 1)
    fit = linear_fit(xs, rss)
    anon_fit = linear_fit(xs, anon) if min(anon) >= 0 else None
    result = ScenarioResult("leak", per_cycle, problems=problems)
    result.figure("leak.rss_mb", rss, unit="MB", better="lower")
    result.figure("leak.slope_mb", [fit.slope], unit="MB/cycle", better="lower")
    result.plots["leak"] = {
        "rss_mb": rss, "slope_mb": fit.slope, "intercept_mb": fit.intercept,
        "ci_low_mb": fit.ci_low, "ci_high_mb": fit.ci_high, "r2": fit.r2,
        "per_cycle": per_cycle, "limit_mb": limit_mb,
    }
    if anon_fit is not None:
        result.figure("leak.anon_slope_mb", [anon_fit.slope], unit="MB/cycle", better="lower")
        result.plots["leak"].update({
            "anon_mb": anon, "anon_slope_mb": anon_fit.slope,
            "anon_intercept_mb": anon_fit.intercept, "anon_ci_low_mb": anon_fit.ci_low,
            "anon_ci_high_mb": anon_fit.ci_high,
        })
    store.close()
    result.problems += _leak_problem(fit, anon_fit, limit_mb, rss, anon)
    return result


# -- scenario 6: cliff detection ---------------------------------------------------------


def run_cliff(
    make: StoreFactory, progress: Progress, *, scales: Sequence[int],
    dim: int, gets: int = 5000, seed: int = 6,
) -> ScenarioResult:
    """Grow one store through ``scales``; at each: put rate and latency of the puts that
    got there, p99 of ``gets`` random gets, one full scan. Trend breaks become notes."""
    top = max(scales)
    result = ScenarioResult("cliff", top)
    w = Workload(top, dim=dim, seed=seed)
    store = make(dim)
    table: dict[str, list[float]] = {k: [] for k in _CLIFF_COLUMNS}
    problems: list[str] = []
    rng = random.Random(seed)
    done = 0
    phase = progress.phase(f"cliff: grow to {top:,}", top)
    for n in scales:
        problems += _grow_and_measure(store, w, done, n, phase, rng, gets, result, table)
        done = n
    store.close()
    _note_trend_breaks(result, list(scales), table)
    result.problems += problems
    return result


_CLIFF_COLUMNS = (
    "put_rate", "put_p99_us", "get_p99_us", "scan_s", "scan_items_per_s", "scan_ns_per_item",
    "put_us_per_op", "put_rate_q25", "put_rate_q75",
)
"""The cliff table's columns: one value per scale (``plots["cliff"]``, the report's plot)."""

_CLIFF_TRENDS: tuple[tuple[str, Better, float], ...] = (
    # Tail latencies are noisier than rates on a shared machine: a higher bar for them.
    ("put_rate", "higher", 2.0), ("put_p99_us", "lower", 3.0),
    ("get_p99_us", "lower", 3.0), ("scan_items_per_s", "higher", 2.0),
)
"""The cliff table's columns checked for trend breaks: which way is better, how many
times worse than the trend is a break."""


def _grow_and_measure(
    store: Any, w: Workload, done: int, n: int, phase: Phase, rng: random.Random, gets: int,
    result: ScenarioResult, table: dict[str, list[float]],
) -> list[str]:
    """One rung of the cliff ladder: grow the store from ``done`` to ``n`` records with
    every put timed, then ``gets`` random gets and three scans; add the figures at scale
    ``n`` to ``result`` and a row to ``table``; return the problems seen."""
    lat = Latencies()
    rates = fill(store, w, done, n, batch=max(100, min(1000, (n - done) // 10)),
                 latencies=lat, phase=phase)
    picks = [rng.randrange(n) for _ in range(gets)]
    get_lat = Latencies()
    problems: list[str] = []
    bad = _first_bad_get(store, w, picks, get_lat)
    if bad is not None:
        i, rec = bad
        problems.append(f"at {n:,}: get({w.id(i)!r}) = {describe_record(rec)}")
    scan_times = []
    for _ in range(3):  # one scan is too noisy on a shared machine to judge a trend
        secs, count = timed_scan(store)
        scan_times.append(secs)
        if count != n:
            problems.append(f"at {n:,}: scan yielded {count}; expected {n}")
    result.figure("cliff.put_rate", rates, unit="ops/s", better="higher", scale=n)
    result.figure("cliff.put_us", lat.us(), unit="us", better="lower", scale=n)
    result.figure("cliff.get_us", get_lat.us(), unit="us", better="lower", scale=n)
    result.figure("cliff.scan_s", scan_times, unit="s", better="lower", scale=n)
    row = _cliff_row(n, rates, lat.us(), get_lat.us(), scan_times)
    for key, value in row.items():
        table[key].append(value)
    return problems


def _cliff_row(
    n: int, rates: list[float], put_us: npt.NDArray[np.float64],
    get_us: npt.NDArray[np.float64], scan_times: list[float],
) -> dict[str, float]:
    """The cliff table's values at scale ``n``, one per column."""
    secs = float(np.median(scan_times))
    return {
        "put_rate": float(np.median(rates)),
        "put_us_per_op": 1e6 / float(np.median(rates)),
        "put_rate_q25": float(np.percentile(rates, 25)),
        "put_rate_q75": float(np.percentile(rates, 75)),
        "put_p99_us": float(np.percentile(put_us, 99)),
        "get_p99_us": float(np.percentile(get_us, 99)),
        "scan_s": secs,
        "scan_items_per_s": n / secs,
        "scan_ns_per_item": secs / max(n, 1) * 1e9,
    }


def _note_trend_breaks(
    result: ScenarioResult, scales: list[int], table: dict[str, list[float]]
) -> None:
    """Find where the ``_CLIFF_TRENDS`` columns break their trend; keep the table and the
    breaks as ``plots["cliff"]`` and ``plots["cliff_breaks"]``, each break also a note."""
    breaks: list[TrendBreak] = []
    for key, better, threshold in _CLIFF_TRENDS:
        breaks += find_trend_breaks(key, scales, table[key], better, threshold=threshold)
    described = [b.describe() for b in breaks]
    result.plots["cliff"] = {"scales": scales, **table,
                             "breaks": [{"figure": b.figure, "scale": b.scale,
                                         "ratio": b.ratio} for b in breaks]}
    result.plots["cliff_breaks"] = described
    for text in described:
        result.note("cliff: " + text)


# -- scenario 7: concurrency at scale ----------------------------------------------------


def run_concurrency(
    make: StoreFactory, progress: Progress, *, n: int, dim: int,
    writers: int = 10, readers: int = 10, ops: int = 1000, seed: int = 7,
    timeout: float = 3600.0,
) -> ScenarioResult:
    """``n`` records pre-populated; ``writers`` threads put and remove on disjoint id sets,
    ``readers`` threads get and check each record is one that was put for its id (never
    torn); then the final state equals the model replaying each writer's ops. The threads
    run as a race workload (:func:`~warmtier.testing.concurrency.races.run_workload`): a
    thread still running after ``timeout`` seconds fails with every thread's stack."""
    w = Workload(n, dim=dim, seed=seed).preload()
    store = make(dim)
    model = ModelStore(dim)
    fill(store, w, 0, n, model=model, phase=progress.phase(f"concurrency: populate {n:,}", n))
    plans, allowed = _writer_plans(w, n, writers, ops, np.random.default_rng(seed))
    threads = _ConcurrentOps(store, w, plans, allowed, ops, progress.phase(
        f"concurrency: {writers}+{readers} threads x {ops:,}", (writers + readers) * ops))
    elapsed = run_workload(
        [Role("writer", writers, threads.write, ops=ops),
         Role("reader", readers, threads.read, ops=ops, seed=seed * 1000)],
        # The interpreter's own switch interval: ops_per_s stays comparable across runs.
        timeout=timeout, interval=sys.getswitchinterval(),
    ).seconds
    for plan in plans:
        for op in plan:
            _apply(model, w, op)
    problems = threads.errors[:MAX_PROBLEMS]
    live = sorted(w.index(id) for id in model.ids())
    problems += _verify_against_model(store, model, w, live, "after the threads", progress)
    result = ScenarioResult("concurrency", n, problems=problems)
    result.figure("concurrency.ops_per_s", [(writers + readers) * ops / elapsed], unit="ops/s",
                  better="none")
    store.close()
    return result


_WriteOp = tuple[str, int, bytes]
"""One op of a writer's plan: ``("put", index, content)`` or ``("remove", index, b"")``."""


def _writer_plans(
    w: Workload, n: int, writers: int, ops: int, rng: np.random.Generator
) -> tuple[list[list[_WriteOp]], dict[int, set[bytes]]]:
    """``ops`` random ops for each writer (writer ``k`` owns the records with
    ``i % writers == k``; a quarter of the ops are removes), and for each record a writer
    touches every content it may hold: its own and each one a put writes."""
    plans: list[list[_WriteOp]] = []
    allowed: dict[int, set[bytes]] = {}
    for k in range(writers):
        owned = np.arange(k, n, writers)
        plan: list[_WriteOp] = []
        for j in range(ops):
            i = int(owned[rng.integers(0, owned.size)])
            allowed.setdefault(i, {w.content(i)})
            if rng.random() < 0.25:
                plan.append(("remove", i, b""))
            else:
                content = f"writer {k} op {j} of {w.id(i)}".encode() * int(rng.integers(1, 8))
                plan.append(("put", i, content))
                allowed[i].add(content)
        plans.append(plan)
    return plans, allowed


def _embedding_for(w: Workload, i: int, content: bytes) -> npt.NDArray[np.float32]:
    """A writer's embedding for record ``i``: a function of the content, so a torn record
    (content of one put, embedding of another) does not match."""
    e = w.embedding(i).copy()
    e[0] = np.float32(len(content))
    return e


def _apply(store: Any, w: Workload, op: _WriteOp) -> None:
    """Do one op of a writer's plan on ``store`` (the store under test or the model)."""
    kind, i, content = op
    if kind == "put":
        store.put(w.id(i), _embedding_for(w, i, content), content, 0.5)
    else:
        store.remove(w.id(i))


class _ConcurrentOps:
    """The steps of the writer and reader threads of :func:`run_concurrency`; readers
    collect what they saw wrong in ``errors``."""

    def __init__(self, store: Any, w: Workload, plans: list[list[_WriteOp]],
                 allowed: dict[int, set[bytes]], ops: int, phase: Phase) -> None:
        self.store, self.w, self.plans, self.allowed = store, w, plans, allowed
        self.ops, self.phase = ops, phase
        self.errors: list[str] = []
        self.lock = threading.Lock()

    def write(self, k: int, j: int, _rng: random.Random) -> None:
        _apply(self.store, self.w, self.plans[k][j])
        if j == self.ops - 1:
            self.phase.advance(self.ops)

    def read(self, _k: int, j: int, local: random.Random) -> None:
        if j == self.ops - 1:
            self.phase.advance(self.ops)
        w = self.w
        i = local.randrange(w.n)
        rec = self.store.get(w.id(i))
        if rec is None:
            if i not in self.allowed:
                self._error(f"reader: {w.id(i)} vanished; no writer removes it")
            return
        content = bytes(rec.content)
        if content == w.content(i):
            ok = same_record(rec, w.id(i), w.embedding(i), content, w.confidence(i))
        else:
            ok = content in self.allowed.get(i, set()) and same_record(
                rec, w.id(i), _embedding_for(w, i, content), content, 0.5)
        if not ok:
            self._error(f"reader: {w.id(i)} read as a record never put: "
                        f"{describe_record(rec)}")

    def _error(self, text: str) -> None:
        with self.lock:
            self.errors.append(text)
