"""Run the suites' quick subsets against real engines and their unsafe variants, and print
the results table of docs/any-store.md: per subject and suite, counts and what was caught.

Each (subject, suite) is one ``python -m pytest PATHS -m "not slow" --warmtier-store=SPEC``
run with a JUnit XML report, read back for the counts and the first failing tests. A safe
subject must pass (declared known gaps show as expected failures); an unsafe variant must
be caught by the suite named for it.

    python -m warmtier.testing.meta.engine_matrix                # the whole table
    python -m warmtier.testing.meta.engine_matrix --only sqlite --markdown reports/engines.md
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["SUBJECTS", "SUITES", "Result", "Subject", "format_markdown", "main", "run_one"]

#: Suite name -> the test paths of its quick subset.
SUITES: dict[str, tuple[str, ...]] = {
    "properties": ("tests/properties",),
    "unit": ("tests/unit", "tests/regressions"),
    "concurrency": ("tests/concurrency",),
    "crash": ("tests/crash",),
}


@dataclass(frozen=True)
class Subject:
    """One row group of the table: a store spec, its settings, and the suite expected to
    catch it (``None``: it keeps the contract and must pass everything), narrowed to
    ``paths`` when only some of its files aim at the bug."""

    name: str
    spec: str
    settings: str
    caught_by: str | None = None
    paths: tuple[str, ...] = ()


SUBJECTS: tuple[Subject, ...] = (
    Subject("reference", "warmtier.store:WarmTierStore", "mmap files, XXH3 checksum per slot"),
    Subject("model", "warmtier.model:ModelStore", "in memory, one lock"),
    Subject("sqlite", "warmtier.adapters.sqlite:SQLiteStore",
            "WAL, synchronous=FULL, one connection + lock"),
    Subject("lmdb", "warmtier.adapters.lmdb:LMDBStore", "py-lmdb defaults (sync, metasync)"),
    Subject("sqlite-shared-conn", "tests.engines.unsafe:SQLiteSharedConnectionNoLock",
            "one connection, no lock", caught_by="concurrency"),
    Subject("sqlite-check-then-act", "tests.engines.unsafe:SQLiteCheckThenActRemove",
            "connection per thread, SELECT then DELETE", caught_by="concurrency"),
    Subject("lmdb-writemap-async", "tests.engines.unsafe:LMDBWritemapAsync",
            "writemap=True, map_async=True", caught_by="crash",
            paths=("tests/crash/test_crash_faults.py",)),
    Subject("sqlite-no-sync", "tests.engines.unsafe:SQLiteNoSync",
            "synchronous=OFF, journal_mode=MEMORY", caught_by="crash",
            paths=("tests/crash/test_crash_power_loss.py",)),
    Subject("lmdb-no-sync", "tests.engines.unsafe:LMDBNoSync", "sync=False",
            caught_by="crash", paths=("tests/crash/test_crash_power_loss.py",)),
)


@dataclass
class Result:
    """The outcome of one (subject, suite) run."""

    subject: Subject
    suite: str
    passed: int = 0
    failed: int = 0
    xfailed: int = 0
    skipped: int = 0
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)
    exit_code: int = 0

    @property
    def verdict(self) -> str:
        if self.subject.caught_by == self.suite:
            return "caught" if self.failed else "MISSED"
        if self.exit_code not in (0, 1) or self.failed:
            return "FAILED" if self.failed else f"ERROR (exit {self.exit_code})"
        return "passed"


def _count(report: str, result: Result) -> None:
    root = ET.parse(report).getroot()
    for case in root.iter("testcase"):
        name = f"{case.get('classname', '')}::{case.get('name', '')}"
        kinds = {child.tag: child for child in case}
        if "failure" in kinds or "error" in kinds:
            result.failed += 1
            result.failures.append(name.rsplit(".", 1)[-1])
        elif "skipped" in kinds:
            xfail = kinds["skipped"].get("type") == "pytest.xfail"
            result.xfailed += xfail
            result.skipped += not xfail
        else:
            result.passed += 1


def run_one(subject: Subject, suite: str, workers: int = 2, extra: Sequence[str] = ()
            ) -> Result:
    """Run one suite's quick subset against one subject."""
    result = Result(subject, suite)
    with tempfile.TemporaryDirectory(prefix="warmtier-matrix-") as where:
        report = os.path.join(where, "junit.xml")
        argv = [sys.executable, "-m", "pytest", *(subject.paths or SUITES[suite]),
                "-m", "not slow", "-q",
                "-p", "no:cacheprovider", "--hypothesis-profile=ci",
                f"--warmtier-store={subject.spec}", f"--junitxml={report}",
                *(["-n", str(workers)] if workers > 1 else []), *extra]
        env = {**os.environ, "WARMTIER_STORE": subject.spec,
               "WARMTIER_HYPOTHESIS_PROFILE": "ci"}
        started = time.monotonic()
        done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        result.seconds = time.monotonic() - started
        result.exit_code = done.returncode
        if os.path.exists(report):
            _count(report, result)
    return result


def format_markdown(results: Sequence[Result]) -> str:
    """The results table, one line per (subject, suite)."""
    lines = ["| engine | settings | suite | passed | failed | expected failures | skipped "
             "| seconds | outcome | what failed |",
             "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- | --- |"]
    for r in results:
        what = ", ".join(f"`{name}`" for name in r.failures[:3])
        more = f" and {len(r.failures) - 3} more" if len(r.failures) > 3 else ""
        lines.append(f"| {r.subject.name} | {r.subject.settings} | {r.suite} | {r.passed} "
                     f"| {r.failed} | {r.xfailed} | {r.skipped} | {r.seconds:.0f} "
                     f"| {r.verdict} | {what}{more} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated subject names")
    parser.add_argument("--skip", default="", help="comma-separated subject names")
    parser.add_argument("--suites", default=",".join(SUITES), help="comma-separated suites")
    parser.add_argument("--markdown", default=None, help="also write the table here")
    parser.add_argument("-n", "--workers", type=int, default=2)
    args = parser.parse_args(argv)
    wanted = set(filter(None, args.only.split(",")))
    skipped = set(filter(None, args.skip.split(",")))
    results = []
    for subject in SUBJECTS:
        if (wanted and subject.name not in wanted) or subject.name in skipped:
            continue
        suites = [s for s in args.suites.split(",") if s]
        if subject.caught_by is not None:
            suites = [s for s in suites if s == subject.caught_by]
        for suite in suites:
            result = run_one(subject, suite, args.workers)
            print(f"{subject.name:24} {suite:12} {result.verdict:8} {result.passed} passed, "
                  f"{result.failed} failed, {result.xfailed} xfailed, {result.skipped} "
                  f"skipped in {result.seconds:.0f} s", flush=True)
            results.append(result)
    table = format_markdown(results)
    print(table)
    if args.markdown:
        os.makedirs(os.path.dirname(args.markdown) or ".", exist_ok=True)
        with open(args.markdown, "w", encoding="utf-8") as f:
            f.write(table + "\n")
    bad = [r for r in results if r.verdict not in ("passed", "caught")]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
