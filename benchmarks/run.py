"""Run every peer on the same data, print the side-by-side table, write JSON and a PNG.

``python -m benchmarks [--scales 10k,100k] [--scale=1m] [--reps 3] [--out reports/bench]``

Per scale and repetition each peer gets a fresh directory and the same operations: put,
get in random order, scan, top-10 cosine search, remove half then put 10K more
(fragmentation), compact, close and open. ``--scale=1m`` adds a 1M round of scan, search
and open. Figures are medians over the repetitions.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import gc
import json
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.peers import available
from benchmarks.peers.base import Peer, Row
from warmtier.perf.history import git_commit, machine_info
from warmtier.perf.workload import TEXT_MIX, Workload

DIM = 768
REFILL = 10_000
_SIZES = {"10k": 10_000, "100k": 100_000, "1m": 1_000_000}  # --scales label -> records
SINGLE_OPS = ("put", "get", "remove_half", "put_10k_more")
OPS = ("build", "put", "get", "scan", "search", "remove_half", "put_10k_more", "compact", "open",
       "open_recent")
TIME_OPS = ("search", "compact", "open", "open_recent")  # in seconds; speed = 1 / seconds
BIG_OPS = ("scan", "search", "open", "open_recent")
TARGETS = {
    "put": "single put >= 50K/s",
    "get": "get >= 200K/s with p99 < 10 us",
    "scan@1m": "scan of 1M faster than LMDB's iteration",
    "search@1m": "search over 1M within 1.5x of the bare memmap product",
    "open@1m": "open() of 1M under 2 s",
}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class Dataset:
    """The rows of one scale (plus ``REFILL`` for the fragmentation step) and queries."""

    def __init__(self, n: int, dim: int, seed: int, preload: bool) -> None:
        self.n = n
        self.w = Workload(n + REFILL, dim=dim, mix=TEXT_MIX, seed=seed)
        if preload:
            self.w.preload()
        self.ids = [self.w.id(i) for i in range(n + REFILL)]
        self.contents = [self.w.content(i) for i in range(n + REFILL)] if preload else []
        rng = random.Random(seed)
        self.targets = [rng.randrange(n) for _ in range(3)]
        self.queries = [self.w.query(t) for t in self.targets]

    def rows(self, start: int, stop: int) -> list[Row]:
        emb = self.w.embeddings(start, stop)
        contents = self.contents or [self.w.content(i) for i in range(start, stop)]
        off = 0 if self.contents else start
        return [(self.ids[i], emb[i - start], contents[i - off]) for i in range(start, stop)]

    def live_bytes(self, indices: Sequence[int]) -> int:
        return sum(self.w.live_bytes(i) for i in indices)


def _timed_each(
    fn: Callable[[Any], Any], args: Sequence[Any]
) -> tuple[float, float, list[float]]:
    """Wall seconds, this thread's CPU seconds, and each call's latency in microseconds.

    CPU time leaves out the time the thread waited for a core: on a shared machine it
    shows what the code costs when wall time shows what the neighbours did too."""
    lat: list[float] = []
    clock = time.perf_counter_ns
    c0 = time.thread_time()
    t0 = time.perf_counter()
    for a in args:
        s = clock()
        fn(a)
        lat.append((clock() - s) / 1e3)
    return time.perf_counter() - t0, time.thread_time() - c0, lat


def _put(peer: Peer, data: Dataset, start: int, stop: int) -> dict[str, Any]:
    total = cpu = 0.0
    if peer.batched:
        for lo in range(start, stop, 1000):
            rows = data.rows(lo, min(lo + 1000, stop))
            c0, t0 = time.thread_time(), time.perf_counter()
            peer.put_many(rows)
            total += time.perf_counter() - t0
            cpu += time.thread_time() - c0
        return {"ops_per_s": (stop - start) / total, "cpu_ops_per_s": (stop - start) / cpu}
    lat: list[float] = []
    put = peer.put
    for lo in range(start, stop, 1000):
        rows = data.rows(lo, min(lo + 1000, stop))
        secs, cpu_secs, batch_lat = _timed_each(lambda r: put(*r), rows)
        total += secs
        cpu += cpu_secs
        lat += batch_lat
    return _lat_result(stop - start, total, cpu, lat)


def _lat_result(n: int, secs: float, cpu: float, lat: list[float]) -> dict[str, Any]:
    a = np.asarray(lat)
    return {"ops_per_s": n / secs, "cpu_ops_per_s": n / cpu if cpu > 0 else None,
            "p50_us": float(np.percentile(a, 50)), "p99_us": float(np.percentile(a, 99))}


def run_peer(cls: type[Peer], data: Dataset, root: Path) -> dict[str, Any]:
    """Every operation on one fresh store of ``data.n`` records."""
    path = str(root / _dirname(cls))
    n = data.n
    out: dict[str, Any] = {}
    peer = cls.create(path, data.w.dim)
    try:
        out["put"] = _put(peer, data, 0, n)
        out["flush"] = _flush(peer)
        order = list(range(n))
        random.Random(7).shuffle(order)
        ids = [data.ids[i] for i in order[: min(n, 50_000)]]
        secs, cpu, lat = _timed_each(peer.get, ids)
        out["get"] = _lat_result(len(ids), secs, cpu, lat)
        out["scan"] = _scan(peer)
        out["search"] = _search(peer, data)
        evens = [data.ids[i] for i in range(0, n, 2)]
        if peer.batched:
            c0, t0 = time.thread_time(), time.perf_counter()
            for lo in range(0, len(evens), 1000):
                peer.remove_many(evens[lo : lo + 1000])
            out["remove_half"] = {"ops_per_s": len(evens) / (time.perf_counter() - t0),
                                  "cpu_ops_per_s": len(evens) / (time.thread_time() - c0)}
        else:
            secs, cpu, lat = _timed_each(peer.remove, evens)
            out["remove_half"] = _lat_result(len(evens), secs, cpu, lat)
        out["put_10k_more"] = _put(peer, data, n, n + REFILL)
        peer.flush()
        live = data.live_bytes([*range(1, n, 2), *range(n, n + REFILL)])
        fb = peer.file_bytes()
        out["space_fragmented"] = {"file_bytes": fb, "live_bytes": live,
                                   "amplification": fb / live if fb else None}
        t0 = time.perf_counter()
        try:
            peer.compact()
            peer.flush()
            s = time.perf_counter() - t0
            out["compact"] = {"seconds": s, "ops_per_s": 1 / s}
        except NotImplementedError:
            pass
        fb = peer.file_bytes()
        out["space_compacted"] = {"file_bytes": fb, "live_bytes": live,
                                  "amplification": fb / live if fb else None}
        if cls.persistent:
            out["open"], peer = _reopen(cls, peer, path, data)
            if hasattr(cls, "open_recent"):
                out["open_recent"], peer = _reopen(cls, peer, path, data, recent=True)
    finally:
        _discard(peer, path)
    return out


def run_peer_big(cls: type[Peer], data: Dataset, root: Path, reps: int) -> list[dict[str, Any]]:
    """Build ``data.n`` records once (batched where the peer batches), then ``reps``
    rounds of scan, search and close + open."""
    path = str(root / _dirname(cls))
    n = data.n
    peer = cls.create(path, data.w.dim)
    rounds: list[dict[str, Any]] = []
    try:
        t0 = time.perf_counter()
        for lo in range(0, n, 4096):
            rows = data.rows(lo, min(lo + 4096, n))
            if peer.batched:
                peer.put_many(rows)
            else:
                for r in rows:
                    peer.put(*r)
        build = {"seconds": time.perf_counter() - t0, "ops_per_s": n / (time.perf_counter() - t0)}
        flush = _flush(peer)
        for _ in range(reps):
            out: dict[str, Any] = {"build": build, "flush": flush}
            out["scan"] = _scan(peer)
            out["search"] = _search(peer, data)
            if cls.persistent:
                out["open"], peer = _reopen(cls, peer, path, data)
                if hasattr(cls, "open_recent"):
                    out["open_recent"], peer = _reopen(cls, peer, path, data, recent=True)
                out["space"] = {"file_bytes": peer.file_bytes()}
            rounds.append(out)
    finally:
        _discard(peer, path)
    return rounds


def _dirname(cls: type[Peer]) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in cls.name)


def _flush(peer: Peer) -> dict[str, Any]:
    t0 = time.perf_counter()
    peer.flush()
    return {"seconds": time.perf_counter() - t0}


def _scan(peer: Peer) -> dict[str, Any]:
    gc.collect()
    c0, t0 = time.thread_time(), time.perf_counter()
    count = 0
    for _row in peer.scan():
        count += 1
    secs = time.perf_counter() - t0
    cpu = time.thread_time() - c0
    return {"ops_per_s": count / secs, "cpu_ops_per_s": count / cpu if cpu > 0 else None,
            "seconds": secs, "count": count}


def _search(peer: Peer, data: Dataset) -> dict[str, Any]:
    times, wrong = [], 0
    for q, target in zip(data.queries, data.targets, strict=True):
        t0 = time.perf_counter()
        top = peer.search(q, 10)
        times.append(time.perf_counter() - t0)
        wrong += top[0][0] != data.ids[target]
    s = float(np.median(times))
    return {"seconds": s, "ops_per_s": 1 / s, "wrong_top1": wrong}


def _reopen(cls: type[Peer], peer: Peer, path: str, data: Dataset,
            recent: bool = False) -> tuple[dict[str, Any], Peer]:
    """Close, then time ``open()`` up to the first successful get (``recent``: warmtier's
    ``open(verify="recent")``, checksums only above the last durability point)."""
    peer.close()
    gc.collect()
    t0 = time.perf_counter()
    peer = cls.open_recent(path, data.w.dim) if recent else cls.open(path, data.w.dim)  # type: ignore[attr-defined]
    ok = peer.get(data.ids[1]) is not None
    s = time.perf_counter() - t0
    return {"seconds": s, "ops_per_s": 1 / s, "found_probe": ok}, peer


def _discard(peer: Peer, path: str) -> None:
    with contextlib.suppress(Exception):
        peer.close()
    shutil.rmtree(path, ignore_errors=True)
    gc.collect()


def median_of(reps: list[dict[str, Any]]) -> dict[str, Any]:
    """Per op and field, the median over repetitions (samples kept under ``reps``)."""
    out: dict[str, Any] = {}
    for op in {k for r in reps for k in r}:
        fields = {f for r in reps if op in r for f in r[op]}
        out[op] = {}
        for f in fields:
            vals = [r[op][f] for r in reps if op in r and isinstance(r[op].get(f), (int, float))
                    and not isinstance(r[op].get(f), bool)]
            if vals:
                out[op][f] = float(np.median(vals))
                out[op][f + "_reps"] = vals
            else:
                out[op][f] = next((r[op][f] for r in reps if op in r), None)
    return out


# -- output ------------------------------------------------------------------------------


def _si(v: float | None) -> str:
    if v is None:
        return "-"
    for unit, div in (("M", 1e6), ("K", 1e3)):
        if abs(v) >= div:
            return f"{v / div:.1f}{unit}"
    return f"{v:.0f}"


def _cell(op: str, r: dict[str, Any] | None) -> str:
    if not r:
        return "-"
    if op in TIME_OPS:
        s = r.get("seconds")
        return "-" if s is None else (f"{s * 1e3:.1f} ms" if s < 1 else f"{s:.2f} s")
    text = f"{_si(r['ops_per_s'])}/s"
    if r.get("cpu_ops_per_s"):
        text += f" [cpu {_si(r['cpu_ops_per_s'])}/s]"
    if r.get("p50_us") is not None:
        text += f" ({r['p50_us']:.1f}/{r['p99_us']:.1f} us)"
    return text


def _speed(op: str, r: dict[str, Any] | None) -> float | None:
    if not r:
        return None
    v = r.get("ops_per_s")
    return float(v) if v else None


def _amp(space: dict[str, Any] | None) -> str:
    if not space or space.get("amplification") is None:
        return "-"
    return f"{space['amplification']:.2f}x ({space['file_bytes'] / 1e6:.0f} MB)"


def markdown(results: dict[str, Any], meta: dict[str, Any]) -> str:
    peers = meta["peers"]
    lines = [
        "# warmtier benchmark",
        "",
        f"- date {meta['date']}; commit `{meta['commit']}`; dim {meta['dim']}; "
        f"{meta['reps']} repetitions (medians shown); machine: {meta['machine'].get('cpus')} "
        f"CPUs, {meta['machine'].get('cpu', '?')}",
        "- versions: " + "; ".join(f"{p}: {v}" for p, v in meta["versions"].items()),
        "- durability: no peer syncs per operation (LMDB sync=False, SQLite WAL "
        "synchronous=NORMAL); each flushes once after the puts",
        "- single-record cells: ops/s by wall clock [ops/s by the thread's CPU time, which "
        "leaves out waiting for a core on a shared machine] (p50/p99 latency in us); "
        "search/compact/open: wall time; ratio = warmtier's wall-clock speed / the peer's "
        "(>1: warmtier faster)",
        f"- load average when the run ended: {meta['machine'].get('loadavg', '?')} on "
        f"{meta['machine'].get('cpus')} CPUs",
    ]
    for scale, by_peer in results.items():
        ops = [op for op in OPS if any(op in by_peer.get(p, {}) for p in peers)]
        shown = [p for p in peers if p in by_peer]
        lines += ["", f"## {scale} records", ""]
        lines.append("| operation | " + " | ".join(shown) + " |")
        lines.append("| --- |" + " ---: |" * len(shown))
        for op in ops:
            lines.append(f"| {op} | " + " | ".join(_cell(op, by_peer[p].get(op)) for p in shown)
                         + " |")
        wt = by_peer.get("warmtier", {})
        lines += ["", f"Ratio warmtier / peer at {scale} (speed; >1 = warmtier faster):", ""]
        others = [p for p in shown if p != "warmtier"]
        lines.append("| operation | " + " | ".join(others) + " |")
        lines.append("| --- |" + " ---: |" * len(others))
        for op in ops:
            mine = _speed(op, wt.get(op))
            cells = []
            for p in others:
                theirs = _speed(op, by_peer[p].get(op))
                cells.append(f"{mine / theirs:.2f}" if mine and theirs else "-")
            lines.append(f"| {op} | " + " | ".join(cells) + " |")
        if any("space_fragmented" in by_peer[p] for p in shown):
            lines += ["", f"Space amplification at {scale} (file bytes / live bytes):", ""]
            lines.append("| store | after remove-half + 10K puts | after compact() |")
            lines.append("| --- | ---: | ---: |")
            for p in shown:
                f, c = by_peer[p].get("space_fragmented"), by_peer[p].get("space_compacted")
                if f is None:
                    continue
                lines.append(f"| {p} | {_amp(f)} | {_amp(c)} |")
    lines += ["", "## Targets", "", *[f"- {t}" for t in targets(results)]]
    return "\n".join(lines) + "\n"


def targets(results: dict[str, Any]) -> list[str]:
    out = []
    for scale, by_peer in results.items():
        wt = by_peer.get("warmtier", {})
        if "put" in wt:
            v = wt["put"]["ops_per_s"]
            cpu = wt["put"].get("cpu_ops_per_s") or 0.0
            out.append(f"{scale}: single put {_si(v)}/s (CPU-time rate {_si(cpu)}/s, p50 "
                       f"{wt['put'].get('p50_us', 0):.1f} us): "
                       f"{'met' if v >= 50e3 else 'MISSED'} ({TARGETS['put']})")
        if "get" in wt:
            g = wt["get"]
            ok = g["ops_per_s"] >= 200e3 and g["p99_us"] < 10
            out.append(f"{scale}: get {_si(g['ops_per_s'])}/s (CPU-time rate "
                       f"{_si(g.get('cpu_ops_per_s') or 0.0)}/s, p50 {g['p50_us']:.1f} us), "
                       f"p99 {g['p99_us']:.1f} us: {'met' if ok else 'MISSED'} "
                       f"({TARGETS['get']})")
        if scale == "1m":
            lm = by_peer.get("lmdb (batched)", by_peer.get("lmdb (txn/put)", {}))
            if "scan" in wt and "scan" in lm:
                a, b = wt["scan"]["ops_per_s"], lm["scan"]["ops_per_s"]
                out.append(f"1m: scan {_si(a)}/s vs LMDB {_si(b)}/s: "
                           f"{'met' if a > b else 'MISSED'}")
            mm = by_peer.get("numpy memmap", {})
            if "search" in wt and "search" in mm:
                a, b = wt["search"]["seconds"], mm["search"]["seconds"]
                out.append(f"1m: search {a * 1e3:.0f} ms vs memmap {b * 1e3:.0f} ms "
                           f"({a / b:.2f}x): {'met' if a <= 1.5 * b else 'MISSED'}")
            for op, how in (("open", "every checksum"), ("open_recent", 'verify="recent"')):
                if op in wt:
                    a = wt[op]["seconds"]
                    out.append(f"1m: open ({how}) {a:.2f} s: {'met' if a < 2 else 'MISSED'}")
    return out


def bar_chart(results: dict[str, Any], peers: list[str], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    scales = list(results)
    fig, axes = plt.subplots(len(scales), 1, figsize=(15, 4.8 * len(scales)), squeeze=False)
    for ax, scale in zip(axes[:, 0], scales, strict=True):
        by_peer = results[scale]
        ops = [op for op in OPS if any(op in by_peer.get(p, {}) for p in peers)]
        shown = [p for p in peers if p in by_peer]
        width = 0.85 / max(len(shown), 1)
        x = np.arange(len(ops))
        for j, p in enumerate(shown):
            ys = [_speed(op, by_peer[p].get(op)) or 0.0 for op in ops]
            ax.bar(x + (j - (len(shown) - 1) / 2) * width, ys, width, label=p,
                   color=f"C{peers.index(p) % 10}")  # one colour per peer in every panel
        ax.set_xticks(x, [op + (" (1/s)" if op in TIME_OPS else "") for op in ops])
        ax.set_yscale("log")
        ax.set_ylabel("operations (or items) per second")
        ax.set_title(f"{scale} records, dim {DIM}: higher is better")
        ax.grid(True, axis="y", which="both", alpha=0.3)
        ax.legend(fontsize=8, ncol=len(shown), loc="upper center",
                  bbox_to_anchor=(0.5, -0.1), frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


# -- main --------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    scales = [s.strip() for s in args.scales.split(",") if s.strip()]
    classes = _select(available(), args.peers)
    versions = {c.name: c.version() for c in classes}
    for name, v in versions.items():
        log(f"peer {name}: {v}")
    results = _run_all(classes, scales, args)
    _write(results, _meta(args, scales, classes, versions), args.out)
    return 0


def _parser() -> argparse.ArgumentParser:
    """The command line's options (``--help``)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", default="10k,100k", help="comma list (default 10k,100k)")
    parser.add_argument("--scale", choices=["10k", "100k", "1m"], default=None,
                        help="--scale=1m adds the 1M round of scan, search and open")
    parser.add_argument("--reps", type=int, default=3, help="repetitions (default 3)")
    parser.add_argument("--dim", type=int, default=DIM)
    parser.add_argument("--peers", default="", help="comma list of peer names to keep")
    parser.add_argument("--out", type=Path, default=Path("reports/bench"))
    parser.add_argument("--tmp", type=Path, default=None, help="scratch directory root")
    return parser


def _select(classes: list[type[Peer]], peers: str) -> list[type[Peer]]:
    """The peers named in the comma list ``peers`` (by name or family); all if it is empty."""
    if not peers:
        return classes
    keep = {p.strip() for p in peers.split(",")}
    return [c for c in classes if c.name in keep or c.family in keep]


def _run_all(
    classes: Sequence[type[Peer]], scales: Sequence[str], args: argparse.Namespace
) -> dict[str, Any]:
    """Every scale (and the 1M round with ``--scale=1m``) in one scratch directory,
    removed at the end: scale label -> peer name -> medians."""
    results: dict[str, Any] = {}
    root = Path(tempfile.mkdtemp(prefix="warmtier-bench-", dir=args.tmp))
    try:
        for label in scales:
            results[label] = _run_scale(label, classes, root, dim=args.dim, reps=args.reps)
            gc.collect()
        if args.scale == "1m":
            results["1m"] = _run_1m(classes, root, dim=args.dim, reps=args.reps)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return results


def _run_scale(
    label: str, classes: Sequence[type[Peer]], root: Path, *, dim: int, reps: int
) -> dict[str, Any]:
    """``reps`` rounds of :func:`run_peer` for each peer at the scale ``label`` (each round
    starts with the next peer); per peer, the medians."""
    data = Dataset(_SIZES[label], dim, seed=11, preload=True)
    samples: dict[str, list[dict[str, Any]]] = {c.name: [] for c in classes}
    for rep in range(reps):
        order = [*classes[rep % len(classes):], *classes[: rep % len(classes)]]
        for cls in order:
            t0 = time.perf_counter()
            samples[cls.name].append(run_peer(cls, data, root))
            log(f"{label} rep {rep + 1}/{reps} {cls.name}: {time.perf_counter() - t0:.1f} s")
    return {name: median_of(r) for name, r in samples.items() if r}


def _run_1m(
    classes: Sequence[type[Peer]], root: Path, *, dim: int, reps: int
) -> dict[str, Any]:
    """The 1M round: :func:`run_peer_big` for each peer that builds its own format; per
    peer, the medians."""
    data = Dataset(1_000_000, dim, seed=12, preload=False)
    # Per-put variants share their batched sibling's format: build those only.
    big = [c for c in classes if c.batched or c.family in ("warmtier", "dict", "memmap")]
    big = [c for c in big if not (c.family == "warmtier" and c.batched)]
    samples: dict[str, list[dict[str, Any]]] = {}
    for cls in big:
        t0 = time.perf_counter()
        samples[cls.name] = run_peer_big(cls, data, root, reps)
        log(f"1m {cls.name}: {time.perf_counter() - t0:.1f} s")
    return {name: median_of(r) for name, r in samples.items() if r}


def _meta(
    args: argparse.Namespace, scales: Sequence[str], classes: Sequence[type[Peer]],
    versions: dict[str, str],
) -> dict[str, Any]:
    """What the run was: when, which commit and machine, the peers and their versions."""
    return {
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "commit": git_commit()["commit"], "dim": args.dim, "reps": args.reps,
        "machine": machine_info(), "versions": versions, "peers": [c.name for c in classes],
        "python": sys.version.split()[0], "scales": [*scales, *(["1m"] if args.scale else [])],
    }


def _write(results: dict[str, Any], meta: dict[str, Any], out: Path) -> None:
    """Write bench.json, bench.md and bench.png under ``out``; print the Markdown."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    md = markdown(results, meta)
    (out / "bench.md").write_text(md)
    png = bar_chart(results, meta["peers"], out / "bench.png")
    print(md)
    log(f"wrote {out / 'bench.json'}, {out / 'bench.md'}"
        + (f", {out / 'bench.png'}" if png else ""))


if __name__ == "__main__":
    raise SystemExit(main())
