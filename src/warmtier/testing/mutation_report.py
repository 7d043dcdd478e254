"""Summarize a mutmut run: the mutation score and every surviving mutant with its diff.

Run after ``mutmut run`` from the repository root (``nox -s mutmut`` does)::

    python -m warmtier.testing.mutation_report --json reports/mutmut.json

The score is killed / (killed + survived + timeout + suspicious); mutants no test
reaches ("no tests") are listed apart, since no test could have killed them. A
``--equivalent`` file (one mutant name per line, ``#`` comments) names survivors judged
equivalent after review; they are reported but left out of the adjusted score.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["main", "parse_results", "score"]

_LINE = re.compile(r"^\s*(\S+):\s*(.+?)\s*$")


def parse_results(text: str) -> dict[str, str]:
    """``mutmut results --all true`` output as {mutant name: status}.

    >>> parse_results("    warmtier.a.x__mutmut_1: killed\\n    warmtier.a.x__mutmut_2: survived\\n")
    {'warmtier.a.x__mutmut_1': 'killed', 'warmtier.a.x__mutmut_2': 'survived'}
    """
    out: dict[str, str] = {}
    for line in text.splitlines():
        m = _LINE.match(line)
        if m and "__mutmut_" in m.group(1):
            out[m.group(1)] = m.group(2)
    return out


def score(statuses: dict[str, str], equivalent: frozenset[str] | set[str] = frozenset()) -> float | None:
    """Killed share of the mutants a test reached, equivalent survivors left out.

    >>> score({"a": "killed", "b": "survived", "c": "no tests"})
    0.5
    """
    judged = [s for name, s in statuses.items()
              if s in ("killed", "survived", "timeout", "suspicious") and name not in equivalent]
    if not judged:
        return None
    return sum(s in ("killed", "timeout") for s in judged) / len(judged)


def _mutmut(*args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "mutmut", *args], capture_output=True,
                          text=True, check=False)
    return proc.stdout


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m warmtier.testing.mutation_report")
    parser.add_argument("--json", default="reports/mutmut.json")
    parser.add_argument("--equivalent", default="tests/zoo/equivalent_mutants.txt",
                        help="survivors judged equivalent, one name per line")
    parser.add_argument("--no-diffs", action="store_true", help="skip `mutmut show` per survivor")
    args = parser.parse_args(argv)

    statuses = parse_results(_mutmut("results", "--all", "true"))
    if not statuses:
        print("no mutmut results found: run `mutmut run` first", file=sys.stderr)
        return 2
    eq_path = Path(args.equivalent)
    equivalent = set()
    if eq_path.exists():
        for line in eq_path.read_text(encoding="utf-8").splitlines():
            name = line.split("#", 1)[0].strip()
            if name:
                equivalent.add(name)
    counts = Counter(statuses.values())
    survivors = sorted(n for n, s in statuses.items() if s == "survived")
    raw, adjusted = score(statuses), score(statuses, equivalent)
    print("mutmut: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    if raw is not None:
        print(f"mutation score: {raw:.1%} (killed / reached by a test)")
    if adjusted is not None and equivalent:
        print(f"adjusted score: {adjusted:.1%} ({len(equivalent & set(survivors))} survivors "
              "judged equivalent)")
    diffs: dict[str, str] = {}
    if survivors:
        print(f"\n{len(survivors)} surviving mutant(s):")
    for name in survivors:
        tag = "  [equivalent]" if name in equivalent else ""
        print(f"  {name}{tag}")
        if not args.no_diffs:
            diffs[name] = _mutmut("show", name)
            for line in diffs[name].splitlines():
                if line.startswith(("+", "-")) and not line.startswith(("+++", "---")):
                    print(f"      {line}")
    report: dict[str, Any] = {
        "counts": dict(counts),
        "score": raw,
        "adjusted_score": adjusted,
        "survivors": [{"name": n, "equivalent": n in equivalent, "diff": diffs.get(n, "")}
                      for n in survivors],
        "no_tests": sorted(n for n, s in statuses.items() if s == "no tests"),
    }
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1), encoding="utf-8")
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
