"""One shard of a nightly campaign: checks the shared database, prints the seeds, runs its
part of every suite (pytest-xdist over the cores, the zoo runner for the zoo) and writes
``<out>/<night>/shard-I-of-N.json`` for :mod:`warmtier.campaign.report`.

    python -m warmtier.campaign.run --shard=1/2 --shared-db=redis://ci-redis:6379/0
    python -m warmtier.campaign.run --quick --suites properties --select test_store_machine

``nox -s nightly -- ARGS`` runs this with the ``test`` and ``scale`` extras installed.
Exit status: 0 when every unit passed, 1 when something failed, 2 on a usage error or an
unreachable shared database.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import subprocess
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from warmtier.campaign.durations import DurationsWarning, newest, zoo_seconds
from warmtier.campaign.durations import load as load_durations
from warmtier.campaign.pytest_plugin import PROGRESS_ENV, RESULTS_ENV, SUITE_ENV, UNITS_ENV
from warmtier.campaign.records import FailureRecord, RecordStore, commit, machine, now
from warmtier.campaign.sharding import SUITES, Shard, Unit, night_seed, plan, split
from warmtier.campaign.shared_db import (
    CHECKED_ENV,
    SHARED_ENV,
    WRITE_ENV,
    SharedDatabaseError,
    check,
    push_pending_examples,
    redact,
)
from warmtier.testing.concurrency.pytest_plugin import SCHEDULE_BASE_ENV

__all__ = ["main", "zoo_members", "zoo_results"]

_SKIP_ZOO = {"registry", "runner", "conftest"}


def zoo_members(root: Path) -> list[str]:
    """The zoo's member names (``tests/zoo/<name>.py``), without importing them."""
    here = root / "tests" / "zoo"
    return sorted(p.stem for p in here.glob("*.py")
                  if not p.stem.startswith(("_", "test_")) and p.stem not in _SKIP_ZOO)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m warmtier.campaign.run",
                                description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--shard", default="1/1", help="this machine's part, I/N (default 1/1)")
    p.add_argument("--shared-db", default=os.environ.get(SHARED_ENV),
                   help=f"redis://host:port/n (default ${SHARED_ENV}); none: local only")
    p.add_argument("--suites", default=",".join(SUITES),
                   help="comma-separated suites (default: all of %(default)s)")
    p.add_argument("--select", default=None,
                   help="comma-separated substrings; only units whose name holds one run")
    p.add_argument("--store", default=None, help="--warmtier-store for every suite")
    p.add_argument("--profile", default="nightly", help="Hypothesis profile (default nightly)")
    p.add_argument("--rounds", type=int, default=10000, help="crash --rounds (default 10000)")
    p.add_argument("--schedules", type=int, default=2000,
                   help="controlled schedules per scheduler test (default 2000)")
    p.add_argument("--scale", default="100k", help="scale suite size, 100k or 1m")
    p.add_argument("--quick", action="store_true",
                   help="a short campaign: ci profile, 30 rounds, 30 schedules, no slow tests")
    p.add_argument("--workers", default="auto", help="pytest-xdist workers per run (default auto)")
    p.add_argument("--night", default=None, help="the night's date (default: today, UTC)")
    p.add_argument("--seed", type=int, default=None, help="the shard's seed (default: by night)")
    p.add_argument("--durations", default=None,
                   help="JSON unit name -> seconds, the same file on every shard (default: "
                   "the newest durations.json of an earlier night under --out)")
    p.add_argument("--out", default="reports/campaign", help="where shard results go")
    p.add_argument("--timeout", type=float, default=4 * 3600.0, help="seconds per pytest run")
    p.add_argument("--pytest-arg", action="append", default=[],
                   help="an extra argument for every pytest run (repeatable)")
    return p


def _pytest_command(suite: str, targets: Sequence[str], args: argparse.Namespace,
                    seed: int, run_dir: Path) -> list[list[str]]:
    base = [sys.executable, "-m", "pytest", *targets, "-p", "no:cacheprovider", "-q",
            "-o", "console_output_style=classic"]
    if args.store:
        base.append(f"--warmtier-store={args.store}")
    if args.quick:
        base += ["-m", "not slow"]
    base += list(args.pytest_arg)
    xdist = [] if args.workers in ("0", "1") else ["-n", str(args.workers)]
    if suite == "properties":
        return [[*base, *xdist, f"--hypothesis-profile={args.profile}"]]
    if suite == "concurrency":
        return [[*base, *xdist, f"--warmtier-schedule-runs={args.schedules}"]]
    if suite == "crash":
        return [[*base, *xdist, f"--rounds={args.rounds}", f"--crash-seed={seed}"]]
    # scale: untimed scenarios over the cores, then the timed ones alone (as nox -s scale)
    common = [*base, "--scale-results=results/scale", "--scale-reports=reports/scale",
              f"--scale={args.scale}", "--no-scale-progress"]
    return [[*common, "-m", "not timing", *xdist], [*common, "-m", "timing"]]


def _add_run(total: dict[str, Any], data: dict[str, Any]) -> None:
    """Fold one pytest run's results file into its suite's totals."""
    total["tests"] += data["tests"]
    total["failures"] += data["failures"]
    total["shared_db_down"] = total.get("shared_db_down") or data.get("shared_db_down")
    for key, value in data["counts"].items():
        total["counts"][key] = total["counts"].get(key, 0) + value
    for name, seconds in data.get("unit_seconds", {}).items():
        total["unit_seconds"][name] = round(total["unit_seconds"].get(name, 0.0) + seconds, 3)


def _run_pytest(suite: str, units: list[Unit], args: argparse.Namespace, seed: int,
                run_dir: Path, env: dict[str, str]) -> dict[str, Any]:
    total: dict[str, Any] = {"units": len(units), "seconds": 0.0, "tests": 0, "failures": [],
                             "counts": {}, "unit_seconds": {}}
    targets = [u.target for u in units]
    run_env = {**env, SUITE_ENV: suite, UNITS_ENV: json.dumps(targets)}
    for i, cmd in enumerate(_pytest_command(suite, targets, args, seed, run_dir)):
        out = run_dir / f"{suite}-{i}.json"
        out.unlink(missing_ok=True)
        print(f"[campaign] {suite}: {shlex.join(cmd[1:])}", flush=True)
        started = time.monotonic()
        try:
            proc = subprocess.run(cmd, env={**run_env, RESULTS_ENV: str(out)},
                                  timeout=args.timeout, check=False)
            code = proc.returncode
        except subprocess.TimeoutExpired:
            code = -1
        total["seconds"] += time.monotonic() - started
        if not out.exists():
            if code not in (0, 5):
                total["failures"].append({"id": "-", "test": f"{suite} run", "kind": "error",
                                          "new": False, "replay": shlex.join(cmd[1:]),
                                          "message": f"pytest exited {code} without results"})
            continue
        _add_run(total, json.loads(out.read_text(encoding="utf-8")))
    return total


def zoo_results(rows: list[dict[str, Any]], units: int, seconds: float,
                store: RecordStore) -> dict[str, Any]:
    """The zoo's part of a shard from the zoo runner's rows: a record (kind ``zoo``, with
    the command that reruns the member) for every member not caught, a pass for every
    caught one, and each member's seconds."""
    total: dict[str, Any] = {"units": units, "seconds": seconds, "tests": 0, "failures": [],
                             "counts": {}, "unit_seconds": zoo_seconds(rows, seconds)}
    caught: dict[str, str] = {}
    for row in rows:
        total["tests"] += 1
        test = f"zoo:{row['name']}"
        if row["status"] == "caught":
            caught[test] = now()
            continue
        replay = shlex.join(["python", "-m", "warmtier.testing.meta.zoo_runner", "--only",
                             row["name"], "--profile", "ci",
                             "--json", f"reports/zoo-replay-{row['name']}.json"])
        seen = FailureRecord.observed(suite="zoo", test=test, replay=replay, store=row["spec"],
                                      text=f"E   zoo verdict: {row['status']}")
        record, new = store.add(seen)
        total["failures"].append({"id": record.id, "test": test, "kind": "zoo", "new": new,
                                  "replay": replay, "message": f"{row['status']}: "
                                  f"{row['description']}", "count": record.count,
                                  "first_seen": record.first_seen})
    store.passed(caught)
    total["counts"] = {"zoo_members": len(rows), "zoo_caught": len(caught)}
    return total


def _run_zoo(units: list[Unit], args: argparse.Namespace, root: Path, run_dir: Path,
             env: dict[str, str], store: RecordStore) -> dict[str, Any]:
    report = run_dir / "zoo.json"
    report.unlink(missing_ok=True)  # never read an earlier run's verdicts
    jobs = str(os.cpu_count() or 2) if args.workers == "auto" else str(args.workers)
    cmd = [sys.executable, "-m", "warmtier.testing.meta.zoo_runner", "--registry", "tests.zoo.registry",
           "--only", ",".join(u.target for u in units), "--json", str(report.resolve()),
           "--profile", "ci", "--jobs", jobs, "--until-caught"]
    print(f"[campaign] zoo: {shlex.join(cmd[1:])}", flush=True)
    started = time.monotonic()
    subprocess.run(cmd, env={**env, "PYTHONPATH": str(root)}, cwd=root, check=False,
                   timeout=args.timeout)
    seconds = time.monotonic() - started
    if not report.exists():
        return {"units": len(units), "seconds": seconds, "tests": 0, "counts": {},
                "unit_seconds": {}, "failures": [{
                    "id": "-", "test": "zoo run", "kind": "error", "new": False,
                    "replay": shlex.join(cmd[1:]), "message": "no zoo report"}]}
    rows = json.loads(report.read_text(encoding="utf-8"))["rows"]
    return zoo_results(rows, len(units), seconds, store)


def _check_shared_db(url: str) -> bool:
    """Stop (False, the error printed) when the server is unreachable; else push the
    writes that waited from an earlier run."""
    try:
        check(url)
    except SharedDatabaseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return False
    pushed = push_pending_examples(url) + RecordStore(url, writable=True).push_pending()
    if pushed:
        print(f"[campaign] pushed {pushed} writes that waited from an earlier run", flush=True)
    return True


def _durations(args: argparse.Namespace, night: str) -> dict[str, float]:
    """``--durations FILE``, else the newest ``durations.json`` of an earlier night under
    ``--out``, else nothing (the per-suite estimates)."""
    path = Path(args.durations) if args.durations else newest(Path(args.out), night)
    if path is None:
        return {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DurationsWarning)
        known = load_durations(path)
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr, flush=True)
    if known:
        print(f"[campaign] split by the durations of {path} ({len(known)} units; "
              "the others by estimate)", flush=True)
    return known


def _plan_units(args: argparse.Namespace, root: Path, night: str) -> list[Unit] | None:
    """Every unit of the chosen suites and ``--select``; None (error printed) when a
    suite is unknown."""
    suites = [s for s in args.suites.split(",") if s]
    unknown = sorted(set(suites) - set(SUITES))
    if unknown:
        print(f"error: unknown suite(s) {', '.join(unknown)}; choose from {', '.join(SUITES)}",
              file=sys.stderr)
        return None
    units = plan(root, suites, zoo_members(root), _durations(args, night))
    if args.select:
        wanted = args.select.split(",")
        units = [u for u in units if any(w in u.name for w in wanted)]
    return units


def _campaign_env(args: argparse.Namespace, seed: int, url: str | None) -> dict[str, str]:
    env = dict(os.environ)
    env.update({SCHEDULE_BASE_ENV: str(seed), "WARMTIER_HYPOTHESIS_PROFILE": args.profile,
                PROGRESS_ENV: env.get(PROGRESS_ENV, "60")})
    if url:
        env.update({SHARED_ENV: url, WRITE_ENV: "1", CHECKED_ENV: "1"})
    return env


def _run_groups(mine: list[Unit], args: argparse.Namespace, shard: Shard, seed: int,
                root: Path, run_dir: Path, env: dict[str, str],
                store: RecordStore) -> dict[str, Any]:
    """Run this shard's units suite by suite; each suite's results."""
    begun = time.monotonic()
    results: dict[str, Any] = {}
    groups = [(s, [u for u in mine if u.suite == s]) for s in SUITES]
    groups = [(s, g) for s, g in groups if g]
    for i, (suite, group) in enumerate(groups, 1):
        if suite == "zoo":
            results[suite] = _run_zoo(group, args, root, run_dir, env, store)
        else:
            results[suite] = _run_pytest(suite, group, args, seed, run_dir, env)
        elapsed = time.monotonic() - begun
        left = sum(u.seconds for _, g in groups[i:] for u in g)
        print(f"[campaign] shard {shard}: {i}/{len(groups)} suites done, {elapsed / 60:.1f} min"
              f", ~{left / 60:.0f} min left (estimate)", flush=True)
    return results


def _write_summary(args: argparse.Namespace, night: str, shard: Shard, seed: int,
                   url: str | None, mine: list[Unit], planned: int, started: str,
                   begun: float, results: dict[str, Any]) -> int:
    """Write ``shard-I-of-N.json``; the exit status (1 when anything failed)."""
    unit_seconds = {name: seconds for r in results.values()
                    for name, seconds in r.get("unit_seconds", {}).items()}
    summary = {"night": night, "shard": str(shard), "seed": seed, "commit": commit(),
               "machine": machine(), "started": started, "finished": now(),
               "seconds": round(time.monotonic() - begun, 2), "units": [u.name for u in mine],
               "planned_units": planned, "shared_db": redact(url) if url else None,
               "suites": results, "unit_seconds": dict(sorted(unit_seconds.items()))}
    out = Path(args.out) / night / f"shard-{shard.index}-of-{shard.total}.json"
    out.write_text(json.dumps(summary, indent=1), encoding="utf-8")
    failed = sum(len(r["failures"]) for r in results.values())
    print(f"[campaign] shard {shard} done: {failed} failure(s); wrote {out}", flush=True)
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        shard = Shard.parse(args.shard)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.quick:
        args.profile = "ci" if args.profile == "nightly" else args.profile
        args.rounds, args.schedules = min(args.rounds, 30), min(args.schedules, 30)
    root = Path.cwd()
    night = args.night or datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d")
    seed = args.seed if args.seed is not None else night_seed(night, shard)
    url = args.shared_db or None
    if url and not _check_shared_db(url):
        return 2
    units = _plan_units(args, root, night)
    if units is None:
        return 2
    mine = split(units, shard.total)[shard.index - 1]
    run_dir = Path(args.out) / night / f"shard-{shard.index}-of-{shard.total}"
    run_dir.mkdir(parents=True, exist_ok=True)
    print(f"[campaign] night {night}, shard {shard}: seed {seed} (crash --crash-seed={seed}, "
          f"schedules from {seed}); Hypothesis draws fresh seeds, printed with any failure",
          flush=True)
    print(f"[campaign] {len(mine)} of {len(units)} units, ~{sum(u.seconds for u in mine) / 60:.0f}"
          f" min estimated; shared database: {redact(url) if url else 'none (local only)'}",
          flush=True)
    env = _campaign_env(args, seed, url)
    store = RecordStore(url, writable=True)
    started, begun = now(), time.monotonic()
    results = _run_groups(mine, args, shard, seed, root, run_dir, env, store)
    return _write_summary(args, night, shard, seed, url, mine, len(units), started, begun,
                          results)


if __name__ == "__main__":
    raise SystemExit(main())
