"""The command line: ``warmtier info|check|demo PATH`` (also ``python -m warmtier``), and
``warmtier failures`` / ``warmtier replay ID`` for the nightly campaigns' failure records."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

import numpy as np

from warmtier.errors import CorruptionError, StoreLockedError, WarmTierError
from warmtier.store import WarmTierStore

DEMO_RECORDS = [
    ("doc-apple", "Apples are crisp fruit that grow on trees.", [1.0, 0.2, 0.0, 0.1]),
    ("doc-pear", "Pears are sweet fruit, softer than apples.", [0.9, 0.3, 0.1, 0.0]),
    ("doc-rust", "Rust is a systems programming language.", [0.0, 0.1, 1.0, 0.4]),
    ("doc-python", "Python is a programming language with batteries.", [0.1, 0.0, 0.9, 0.6]),
    ("doc-empty", "", [0.0, 0.0, 0.0, 0.0]),
]


def _info(path: str) -> int:
    with WarmTierStore.open(path) as store:
        stats = store.stats()
        print(json.dumps({"path": store.path, "dim": store.dim, "records": stats.records,
                          "capacity": stats.capacity,
                          "content_live_bytes": stats.content_live_bytes,
                          "content_allocated_bytes": stats.content_allocated_bytes,
                          "fragmentation": round(stats.fragmentation, 4),
                          "slots_file_bytes": stats.slots_file_bytes,
                          "content_file_bytes": stats.content_file_bytes,
                          **stats.extra}, indent=2))
    return 0


def _check(path: str) -> int:
    try:
        with WarmTierStore.open(path) as store:
            store.check()
            print(f"ok: {path}: {len(store)} records, every invariant holds")
            return 0
    except CorruptionError as exc:
        print(f"CORRUPT: {path}: {len(exc.violations)} violation(s)")
        for line in exc.violations:
            print(f"  - {line}")
        return 1


def _demo(path: str) -> int:
    with WarmTierStore.create(path, dim=4) as store:
        for ident, text, emb in DEMO_RECORDS:
            store.put(ident, emb, text, confidence=0.9)
        print(f"created {path} with {len(store)} records")
        query = np.array([1.0, 0.25, 0.0, 0.0])
        print(f"search {query.tolist()} ->")
        for ident, score in store.search(query, k=3):
            print(f"  {score:+.4f}  {ident}: {store.get(ident).content.decode()!r}")  # type: ignore[union-attr]
        stats = store.stats()
        print(f"stats: {stats.records} records, {stats.content_live_bytes} content bytes, "
              f"fragmentation {stats.fragmentation:.2f}")
        print(f"try: warmtier info {path}   and   warmtier check {path}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="warmtier", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (("info", "print a store's stats as JSON"),
                       ("check", "verify every invariant; exit 1 listing the violations"),
                       ("demo", "create a store with sample records")):
        sub.add_parser(name, help=text).add_argument("path")
    from warmtier.campaign.cli import add_commands, run

    add_commands(sub)  # failures, replay: docs/nightly.md
    args = parser.parse_args(argv)
    if args.command in ("failures", "replay"):
        return run(args)
    try:
        handler = {"info": _info, "check": _check, "demo": _demo}[args.command]
        return handler(args.path)
    except CorruptionError as exc:
        print(f"CORRUPT: {args.path}: {exc}", file=sys.stderr)
        return 1
    except (WarmTierError, StoreLockedError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
