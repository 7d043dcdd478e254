"""Run the correctness suites against planted-bug stores and report which bugs they catch.

Each (member, suite) run is a subprocess ``python -m pytest <suite paths> -x
--warmtier-store=SPEC`` under the ``ci`` Hypothesis profile with a fresh example
database, so every catch is earned from scratch. :mod:`warmtier.testing.meta.first_failure`
records the first failing test as JSON (test, seconds, counterexample steps, replay
command); this module reads that JSON, never pytest's output, into an :class:`Outcome`
(caught or missed), prints a table and writes JSON. A missed bug is the most important line of the report.

Command line (from the repository root)::

    python -m warmtier.testing.meta.zoo_runner --registry tests.zoo.registry --json reports/zoo.json
    python -m warmtier.testing.meta.zoo_runner --only alloc_no_coalesce --suites properties

The registry module provides ``members()`` (objects with ``name``, ``spec``,
``category``, ``description``, ``caught_by``) and ``SUITES`` (suite name -> test paths).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import shlex
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from warmtier.testing.meta.first_failure import REPORT_ENV, excerpt
from warmtier.testing.subject import SCRATCH_ENV, scratch_dir

__all__ = [
    "CAUGHT",
    "MISSED",
    "MemberLike",
    "Outcome",
    "Row",
    "format_markdown",
    "format_table",
    "main",
    "run_matrix",
    "run_one",
    "stop_all_runs",
    "summarize",
]

CAUGHT = "caught"
MISSED = "missed"
NOT_RUN = "not-run"  # every test skipped or none collected: the suite cannot judge
ERROR = "error"  # the run itself broke (bad spec, collection error): no verdict
TIMEOUT = "timeout"  # the run hung past its limit: a hang, not a failing test

_live: set[subprocess.Popen[str]] = set()  # suite runs in flight, stopped with the runner


def stop_all_runs() -> None:
    """Kill every suite run in flight (each is its own process group)."""
    for proc in list(_live):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)



class MemberLike(Protocol):
    """What the runner needs of a zoo member."""

    @property
    def name(self) -> str: ...
    @property
    def spec(self) -> str: ...
    @property
    def category(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def caught_by(self) -> tuple[str, ...]: ...


@dataclass
class Outcome:
    """One suite run against one member."""

    member: str
    suite: str
    status: str
    first_test: str | None = None
    seconds: float | None = None  # session start to the first failure
    wall_seconds: float = 0.0  # the whole subprocess, start-up included
    steps: int | None = None  # steps of the shrunk stateful counterexample
    replay: str | None = None
    exitstatus: int | None = None
    passed: int = 0
    skipped: int = 0
    command: str = ""
    excerpt: str = ""  # the first lines of the failure (or of the run's error)


@dataclass
class Row:
    """A member's verdict over every suite run against it."""

    name: str
    spec: str
    category: str
    description: str
    expected: list[str]
    status: str
    first_test: str | None
    suite: str | None
    seconds: float | None
    steps: int | None
    replay: str | None
    runs: list[Outcome] = field(default_factory=list)


def run_one(
    member: MemberLike,
    suite: str,
    paths: Sequence[str],
    *,
    root: Path,
    extra: Sequence[str] = (),
    profile: str = "ci",
    timeout: float = 600.0,
    include_slow: bool = False,
) -> Outcome:
    """Run one suite (``paths``, plus ``extra`` pytest arguments) against one member."""
    # store files on tmpfs: fsync costs nothing, the verdict is the same
    with scratch_dir("warmtier-zoo-") as tmp:
        report = os.path.join(tmp, "first.json")
        cmd = _pytest_command(member, [*paths, *extra], tmp=tmp, root=root, profile=profile,
                              include_slow=include_slow)
        env = _pytest_env(tmp=tmp, report=report, root=root, profile=profile)
        out = Outcome(member=member.name, suite=suite, status=ERROR,
                      command=shlex.join(cmd[1:]).replace("-m pytest", "python -m pytest", 1))
        start = time.monotonic()
        stdout, returncode = _communicate(cmd, cwd=root, env=env, timeout=timeout)
        out.wall_seconds = round(time.monotonic() - start, 2)
        if returncode is None:
            out.status = TIMEOUT
            out.excerpt = f"no verdict after {timeout:.0f} s (a hang?)\n" + excerpt(stdout[-3000:])
            return out
        out.exitstatus = returncode
        data = _read_first_failure(report)
        if data is None:
            out.excerpt = excerpt(stdout[-4000:]) or f"pytest exited {returncode}"
            return out
    _judge(out, data, returncode, stdout)
    return out


def _pytest_command(
    member: MemberLike, args: Sequence[str], *, tmp: str, root: Path, profile: str,
    include_slow: bool,
) -> list[str]:
    """The pytest run of ``args`` against ``member``: stop at the first failure, which
    :mod:`~warmtier.testing.meta.first_failure` records."""
    cmd = [
        sys.executable, "-m", "pytest", *args, f"--basetemp={tmp}/pytest",
        f"--warmtier-store={member.spec}", f"--hypothesis-profile={profile}",
        "-x", "-q", "-p", "no:cacheprovider", "-p", "no:faker",
        "-p", "warmtier.testing.meta.first_failure", "-p", "no:xdist", "--rootdir", str(root),
    ]
    if not include_slow:
        cmd += ["-m", "not slow"]
    return cmd


def _pytest_env(*, tmp: str, report: str, root: Path, profile: str) -> dict[str, str]:
    """The environment of a suite run: a fresh example database and the store directories
    under ``tmp``, the report written to ``report``, ``root`` importable, and nothing
    inherited from an outer pytest."""
    env = dict(os.environ)
    env.update({
        REPORT_ENV: report,
        "WARMTIER_HYPOTHESIS_PROFILE": profile,
        "WARMTIER_HYPOTHESIS_DB": os.path.join(tmp, "examples"),
        SCRATCH_ENV: tmp,  # store directories too: removed even when the run is killed
        "PYTHONPATH": os.pathsep.join(p for p in (str(root), env.get("PYTHONPATH")) if p),
    })
    env.pop("WARMTIER_HYPOTHESIS_SHARED_DB", None)
    env.pop("PYTEST_XDIST_WORKER", None)
    env.pop("PYTEST_CURRENT_TEST", None)
    return env


def _communicate(
    cmd: Sequence[str], *, cwd: Path, env: Mapping[str, str], timeout: float
) -> tuple[str, int | None]:
    """Run ``cmd`` in its own process group (stopped by :func:`stop_all_runs`) and return
    its output and exit status; the status is None when it ran past ``timeout`` seconds
    (then the whole group is killed)."""
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    _live.add(proc)
    try:
        stdout, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        stdout, _ = proc.communicate()
        return stdout, None
    finally:
        _live.discard(proc)
    return stdout, proc.returncode


def _read_first_failure(report: str) -> dict[str, Any] | None:
    """The JSON :mod:`~warmtier.testing.meta.first_failure` wrote, or None if there is none."""
    try:
        with open(report, encoding="utf-8") as f:
            data: dict[str, Any] = json.load(f)
    except (OSError, ValueError):
        return None
    return data


def _judge(out: Outcome, data: Mapping[str, Any], returncode: int, stdout: str) -> None:
    """Fill in ``out``'s verdict from the first-failure report and pytest's exit status."""
    out.passed, out.skipped = int(data["passed"]), int(data["skipped"])
    first = data.get("first_failure")
    if first is not None:
        out.first_test = str(first["nodeid"])
        out.excerpt = str(first["excerpt"])
        if first["usage_error"]:
            out.status = ERROR
            return
        out.status = CAUGHT
        out.seconds = float(first["seconds"])
        out.steps = None if first["steps"] is None else int(first["steps"])
        out.replay = str(first["replay"])
    elif returncode == 0:
        out.status = MISSED if out.passed else NOT_RUN
    elif returncode == 5:
        out.status = NOT_RUN
    else:
        out.excerpt = excerpt(stdout[-4000:])


def summarize(member: MemberLike, runs: Iterable[Outcome]) -> Row:
    """Fold a member's runs into one row: caught by the fastest catching run."""
    runs = list(runs)
    caught = [r for r in runs if r.status == CAUGHT]
    best = min(caught, key=lambda r: r.seconds or 0.0) if caught else None
    if best is not None:
        status = CAUGHT
    elif any(r.status == MISSED for r in runs):
        status = MISSED
    elif any(r.status == TIMEOUT for r in runs):
        status = TIMEOUT
    elif any(r.status == ERROR for r in runs):
        status = ERROR
    else:
        status = NOT_RUN
    return Row(
        name=member.name, spec=member.spec, category=member.category,
        description=member.description, expected=list(member.caught_by), status=status,
        first_test=best.first_test if best else None, suite=best.suite if best else None,
        seconds=best.seconds if best else None, steps=best.steps if best else None,
        replay=best.replay if best else None, runs=runs,
    )


def run_matrix(
    members: Sequence[MemberLike],
    suites: Mapping[str, Sequence[str]],
    *,
    root: Path,
    choose: Callable[[MemberLike], Sequence[str]],
    jobs: int = 2,
    timeout: float = 600.0,
    until_caught: bool = False,
    include_slow: bool = False,
    profile: str = "ci",
    extra: Callable[[MemberLike, str], Sequence[str]] | None = None,
    progress: Callable[[Outcome], None] | None = None,
) -> list[Row]:
    """Run the suites ``choose(member)`` names against each member, ``jobs`` at a time.

    With ``until_caught`` a member's suites run in order and stop at the first catch.
    """

    def one_member(member: MemberLike) -> Row:
        runs: list[Outcome] = []
        for suite in choose(member):
            outcome = run_one(member, suite, suites[suite], root=root, timeout=timeout,
                              include_slow=include_slow, profile=profile,
                              extra=extra(member, suite) if extra else ())
            runs.append(outcome)
            if progress is not None:
                progress(outcome)
            if until_caught and outcome.status == CAUGHT:
                break
        return summarize(member, runs)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(one_member, members))


def _cell(value: object, width: int) -> str:
    text = "-" if value is None else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def format_table(rows: Sequence[Row]) -> str:
    """The report: one line per bug, missed bugs first, then a summary with the median."""
    order = {MISSED: 0, TIMEOUT: 1, ERROR: 2, NOT_RUN: 3, CAUGHT: 4}
    rows = sorted(rows, key=lambda r: (order.get(r.status, 5), r.category, r.name))
    head = f"{'bug':38} {'category':12} {'result':8} {'first failing test':58} {'s':>7} " \
           f"{'steps':>5}  replay"
    lines = [head, "-" * len(head)]
    for r in rows:
        test = r.first_test.split("::", 1)[-1] if r.first_test else None
        secs = f"{r.seconds:7.2f}" if r.seconds is not None else f"{'-':>7}"
        steps = "-" if r.steps is None else str(r.steps)
        lines.append(f"{_cell(r.name, 38):38} {_cell(r.category, 12):12} "
                     f"{r.status.upper() if r.status != CAUGHT else r.status:8} "
                     f"{_cell(test, 58):58} {secs} {steps:>5}  {r.replay or '-'}")
    caught = [r for r in rows if r.status == CAUGHT]
    times = [r.seconds for r in caught if r.seconds is not None]
    escaped = [r.name for r in rows if r.status != CAUGHT]
    lines.append("")
    lines.append(f"caught {len(caught)} of {len(rows)}"
                 + (f"; median time to catch {statistics.median(times):.2f} s"
                    f" (max {max(times):.2f} s)" if times else ""))
    if escaped:
        lines.append("NOT CAUGHT: " + ", ".join(escaped))
    return "\n".join(lines)


def format_markdown(rows: Sequence[Row]) -> str:
    """The report as a Markdown table (missed bugs first), for docs and pull requests."""
    order = {MISSED: 0, TIMEOUT: 1, ERROR: 2, NOT_RUN: 3, CAUGHT: 4}
    rows = sorted(rows, key=lambda r: (order.get(r.status, 5), r.category, r.name))
    lines = ["| bug | category | result | first failing test | s | steps |",
             "| --- | --- | --- | --- | ---: | ---: |"]
    for r in rows:
        test = f"`{r.first_test.split('::', 1)[-1]}`" if r.first_test else "-"
        secs = f"{r.seconds:.1f}" if r.seconds is not None else "-"
        steps = "-" if r.steps is None else str(r.steps)
        result = r.status if r.status == CAUGHT else f"**{r.status.upper()}**"
        lines.append(f"| `{r.name}` | {r.category} | {result} | {test} | {secs} | {steps} |")
    return "\n".join(lines)


def _report(rows: Sequence[Row], profile: str) -> dict[str, Any]:
    caught = [r for r in rows if r.status == CAUGHT]
    times = [r.seconds for r in caught if r.seconds is not None]
    return {
        "profile": profile,
        "members": len(rows),
        "caught": len(caught),
        "escaped": [r.name for r in rows if r.status != CAUGHT],
        "median_seconds_to_catch": statistics.median(times) if times else None,
        "rows": [asdict(r) for r in rows],
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # SIGTERM (timeout, CI cancel) and Ctrl-C stop the suite runs in flight too.
    signal.signal(signal.SIGTERM, _on_term)
    root = Path(args.root).resolve()
    if args.from_json:
        return _reprint(Path(args.from_json), markdown=args.markdown)
    plan = _plan(root, registry=args.registry, suites=args.suites, only=args.only,
                 expected_only=args.expected_only)
    rows = _run(plan, args, root)
    print()
    print(format_table(rows))
    out = _write_reports(rows, args, root)
    print(f"\nwrote {out}")
    return _exit_status(rows)


def _parser() -> argparse.ArgumentParser:
    """The command line's options (``--help``)."""
    parser = argparse.ArgumentParser(prog="python -m warmtier.testing.meta.zoo_runner",
                                     description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--registry", default="tests.zoo.registry",
                        help="module with members() and SUITES (default: %(default)s)")
    parser.add_argument("--root", default=".", help="repository root (default: cwd)")
    parser.add_argument("--json", default="reports/zoo.json", help="where to write the report")
    parser.add_argument("--suites", default=None,
                        help="comma-separated suites to run (default: every suite)")
    parser.add_argument("--expected-only", action="store_true",
                        help="run only the suites each member expects to be caught by")
    parser.add_argument("--until-caught", action="store_true",
                        help="stop a member at its first catching suite (expected ones first)")
    parser.add_argument("--only", default=None, help="comma-separated member names")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per run")
    parser.add_argument("--include-slow", action="store_true", help="also run tests marked slow")
    parser.add_argument("--markdown", default=None, help="also write the table as Markdown")
    parser.add_argument("--from-json", default=None,
                        help="print (and --markdown) the table of an earlier report; run nothing")
    parser.add_argument("--profile", default="ci",
                        help="Hypothesis profile (ci-noshrink: the ci search without shrinking)")
    return parser


def _on_term(signum: int, frame: object) -> None:
    """On SIGTERM, stop the suite runs in flight and exit at once."""
    stop_all_runs()
    os._exit(128 + signum)


def _reprint(report: Path, *, markdown: str | None) -> int:
    """Print (and write as Markdown) the table of an earlier JSON report."""
    data = json.loads(report.read_text(encoding="utf-8"))
    fields = {f for f in Row.__dataclass_fields__ if f != "runs"}
    old = [Row(**{k: v for k, v in r.items() if k in fields}) for r in data["rows"]]
    print(format_table(old))
    if markdown:
        _write_markdown(old, Path(markdown))
    return _exit_status(old)


@dataclass
class _Plan:
    """What a run covers: the members, their suites (those with tests under the root), and
    the suites asked for."""

    members: list[MemberLike]
    suites: dict[str, tuple[str, ...]]
    wanted: list[str]
    expected_only: bool

    def choose(self, member: MemberLike) -> list[str]:
        """The member's expected suites first, then (unless expected_only) the others."""
        first = [s for s in member.caught_by if s in self.wanted]
        if self.expected_only:
            return first
        return first + [s for s in self.wanted if s not in first]


def _plan(root: Path, *, registry: str, suites: str | None, only: str | None,
          expected_only: bool) -> _Plan:
    """Import the registry (``root`` on sys.path) and pick its members and suites."""
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    module = importlib.import_module(registry)
    found: dict[str, tuple[str, ...]] = {
        name: tuple(p for p in paths if (root / p).exists())
        for name, paths in module.SUITES.items()
    }
    found = {name: paths for name, paths in found.items() if paths}
    wanted = [s for s in (suites.split(",") if suites else found) if s in found]
    members: list[MemberLike] = list(module.members())
    if only:
        names = set(only.split(","))
        members = [m for m in members if m.name in names]
    return _Plan(members=members, suites=found, wanted=wanted, expected_only=expected_only)


def _print_progress(o: Outcome) -> None:
    """One line per finished suite run, as it finishes."""
    where = f" by {o.first_test} in {o.seconds:.1f} s" if o.status == CAUGHT else ""
    print(f"[zoo] {o.member:38} {o.suite:12} {o.status}{where} "
          f"({o.wall_seconds:.0f} s wall)", flush=True)


def _run(plan: _Plan, args: argparse.Namespace, root: Path) -> list[Row]:
    """Run the plan with the options of the command line; Ctrl-C stops every run."""
    try:
        return run_matrix(plan.members, plan.suites, root=root, choose=plan.choose,
                          jobs=args.jobs, timeout=args.timeout, until_caught=args.until_caught,
                          include_slow=args.include_slow, profile=args.profile,
                          progress=_print_progress)
    except KeyboardInterrupt:
        stop_all_runs()
        os._exit(130)


def _write_reports(rows: Sequence[Row], args: argparse.Namespace, root: Path) -> Path:
    """Write the JSON report (``--json``, relative to the root) and the ``--markdown``
    table; return the JSON report's path."""
    out = Path(args.json)
    if not out.is_absolute():
        out = root / out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(_report(rows, args.profile), indent=1), encoding="utf-8")
    if args.markdown:
        _write_markdown(rows, Path(args.markdown))
    return out


def _exit_status(rows: Sequence[Row]) -> int:
    """0 when every bug was caught, else 1."""
    return 0 if all(r.status == CAUGHT for r in rows) else 1


def _write_markdown(rows: Sequence[Row], path: Path) -> None:
    """Write the table of ``rows`` as Markdown to ``path``."""
    path.write_text(format_markdown(rows) + "\n", encoding="utf-8")


if __name__ == "__main__":
    raise SystemExit(main())
