"""``warmtier failures`` (list the failure records: new since a date, still failing, fixed)
and ``warmtier replay ID`` (run one record's replay command here, with this interpreter).

Both read ``--shared-db`` or ``$WARMTIER_SHARED_DB`` and the local copies in ``.warmtier/``;
neither writes to the server. A ``nox -s SESSION -- ARGS`` command is run as the pytest
command that session would run, so no nox virtualenv is needed (``--print`` shows it).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
from dataclasses import asdict

from warmtier.campaign.records import FIXED, FailureRecord, RecordStore, now, since
from warmtier.campaign.shared_db import SHARED_ENV, SharedDatabaseError, check

__all__ = ["add_commands", "replay_argv", "run"]

_SESSION_PATHS = {
    "crash": ["tests/crash", "-p", "no:cacheprovider"],
    "concurrency": ["tests/concurrency", "-p", "no:cacheprovider"],
    "scale": ["tests/scale", "-p", "no:cacheprovider"],
}


def replay_argv(command: str) -> list[str]:
    """The command a record names, as arguments for this interpreter.

    >>> replay_argv("nox -s crash -- --replay 7:kill#3")[1:]
    ['-m', 'pytest', 'tests/crash', '-p', 'no:cacheprovider', '--replay', '7:kill#3']
    >>> replay_argv("pytest t.py::x -p no:xdist")[1:]
    ['-m', 'pytest', 't.py::x', '-p', 'no:xdist']
    """
    words = shlex.split(command)
    if words[:2] == ["nox", "-s"] and len(words) > 3 and words[3] == "--":
        session, args = words[2], words[4:]
        if session == "properties":
            from warmtier.testing.compare import nox_to_pytest_argv

            return [sys.executable, "-m", "pytest", *nox_to_pytest_argv(command)]
        if session in _SESSION_PATHS:
            targets = [] if any(a.startswith("tests/") or "::" in a for a in args) else \
                _SESSION_PATHS[session][:1]
            return [sys.executable, "-m", "pytest", *targets, *_SESSION_PATHS[session][1:],
                    *args]
    if words[:1] == ["pytest"]:
        return [sys.executable, "-m", "pytest", *words[1:]]
    if words[:3] == ["python", "-m", "pytest"] or words[:2] == ["python", "-m"]:
        return [sys.executable, *words[1:]]
    return words


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``failures`` and ``replay`` to the ``warmtier`` command line."""
    f = sub.add_parser("failures", help="list the failure records of the campaigns")
    f.add_argument("--shared-db", default=None, help=f"redis://host:port/n (default ${SHARED_ENV})")
    f.add_argument("--since", default=None, help="only records first seen on or after DATE")
    f.add_argument("--status", choices=("failing", "fixed", "all"), default="all")
    f.add_argument("--json", action="store_true", help="one JSON object per line")
    r = sub.add_parser("replay", help="run one failure record's replay command")
    r.add_argument("id", help="a record id (or its first characters)")
    r.add_argument("--shared-db", default=None, help=f"redis://host:port/n (default ${SHARED_ENV})")
    r.add_argument("--print", action="store_true", help="print the command, run nothing")


def _store(url: str | None) -> RecordStore:
    url = url or os.environ.get(SHARED_ENV) or None
    if url:
        check(url)
    return RecordStore(url, writable=False)


def _failures(args: argparse.Namespace) -> int:
    store = _store(args.shared_db)
    records = store.all()
    passes = store.passes()
    if args.since:
        records = since(records, args.since)
    if args.status != "all":
        records = [r for r in records if r.status(passes) == args.status]
    for rec in records:
        status = rec.status(passes)
        if args.json:
            print(json.dumps({**asdict(rec), "status": status}))
            continue
        print(f"{rec.id}  {status:7} {rec.kind:10} {rec.count:>4}×  first {rec.first_seen}  "
              f"last {rec.last_seen}  {rec.machine}@{rec.commit[:10]}\n    {rec.test}\n"
              f"    {rec.message}\n    replay: {rec.replay}")
    if not args.json:
        print(f"{len(records)} record(s)")
    return 0


def _replay(args: argparse.Namespace) -> int:
    store = _store(args.shared_db)
    record: FailureRecord | None = store.get(args.id)
    if record is None:
        print(f"error: no single failure record with id {args.id!r} (warmtier failures lists "
              "them)", file=sys.stderr)
        return 2
    argv = replay_argv(record.replay)
    print(f"replaying {record.id} ({record.kind}, {record.test}): {shlex.join(argv)}", flush=True)
    if args.print:
        return 0
    env = dict(os.environ)
    if record.store:
        env["WARMTIER_STORE"] = record.store
    code = subprocess.run(argv, env=env, check=False).returncode
    if code == 0:
        store.passed({record.test: now()})
        print(f"{record.id}: passes now ({FIXED} here)")
    else:
        print(f"{record.id}: still fails (exit status {code})")
    return code


def run(args: argparse.Namespace) -> int:
    """Carry out ``failures`` or ``replay``; an unreachable server is exit status 2."""
    try:
        return _failures(args) if args.command == "failures" else _replay(args)
    except SharedDatabaseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
