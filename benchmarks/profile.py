"""Profile one warmtier operation with pyinstrument: where does the time go?

``python -m benchmarks.profile --op put --n 100000`` writes
``reports/bench/profile/<op>-<n>.txt`` and ``.html`` and prints the text tree.
Operations: put, get, scan, search, open, compact.
"""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.peers.warmtier_peer import _store_class
from warmtier.perf.workload import Workload

OPS = ("put", "get", "scan", "search", "open", "compact")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__)
    parser.add_argument("--op", choices=OPS, required=True)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--out", type=Path, default=Path("reports/bench/profile"))
    parser.add_argument("--interval", type=float, default=0.0002)
    args = parser.parse_args(argv)
    from pyinstrument import Profiler

    cls = _store_class()
    w = Workload(args.n, dim=args.dim, seed=21)
    root = Path(tempfile.mkdtemp(prefix="warmtier-profile-"))
    profiler = Profiler(interval=args.interval)
    try:
        store = cls.create(root / "s", dim=args.dim)
        rows = []
        for batch in w.batches(4096):
            if args.op == "put":
                rows.extend(batch)
            else:
                for id, emb, content, conf in batch:
                    store.put(id, emb, content, conf)
        t0 = time.perf_counter()
        with profiler:
            if args.op == "put":
                for id, emb, content, conf in rows:
                    store.put(id, emb, content, conf)
            elif args.op == "get":
                ids = [w.id(i) for i in range(args.n)]
                random.Random(1).shuffle(ids)
                for id in ids:
                    store.get(id)
            elif args.op == "scan":
                for _ in store.scan():
                    pass
            elif args.op == "search":
                for t in range(10):
                    store.search(w.query(t), k=10)
            elif args.op == "compact":
                for i in range(0, args.n, 2):
                    store.remove(w.id(i))
                store.compact()
            elif args.op == "open":
                store.flush()
                store.close()
                store = cls.open(root / "s")
        elapsed = time.perf_counter() - t0
        store.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"{args.op}-{args.n}"
    text = profiler.output_text(unicode=False, color=False, show_all=False)
    stem.with_suffix(".txt").write_text(text)
    stem.with_suffix(".html").write_text(profiler.output_html())
    print(text)
    print(f"{args.op} x {args.n:,}: {elapsed:.3f} s under the profiler; wrote {stem}.txt/.html")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
