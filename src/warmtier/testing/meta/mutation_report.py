"""Summarize a mutmut run: the mutation score and every surviving mutant with its diff.

Run after ``mutmut run`` from the repository root (``nox -s mutmut`` does)::

    python -m warmtier.testing.meta.mutation_report --json reports/mutmut.json

``--pick N --seed S`` prints a uniform random sample of mutant names (to run only those)
and ``--only FILE`` scores only the names in FILE: an unbiased estimate of the score when
the full run does not fit the night (``nox -s mutmut -- --sample N``).

The score is killed / (killed + survived + timeout + suspicious); mutants no test
reaches ("no tests") are listed apart, since no test could have killed them. A
``--equivalent`` file (one mutant name per line, ``#`` comments) names survivors judged
equivalent after review; they are reported but left out of the adjusted score.

Survivors whose only change is the text of a string inside a ``raise`` statement are
judged equivalent automatically (the contract fixes error types, not their wording):
:func:`message_only` compares the original and the mutant function with every string
literal under a ``raise`` blanked out. They are listed with the reason, never hidden.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import json
import random
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["main", "message_only", "parse_results", "score"]

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


class _BlankRaisedText(ast.NodeTransformer):
    """Blank every string literal that is part of a ``raise`` statement."""

    def visit_Raise(self, node: ast.Raise) -> ast.Raise:
        for sub in ast.walk(node):
            if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
                sub.value = ""
            elif isinstance(sub, ast.JoinedStr):
                sub.values = [v for v in sub.values if not isinstance(v, ast.Constant)]
        return node


def message_only(original: str, mutant: str) -> bool:
    """True when ``mutant`` differs from ``original`` only in the text of raised errors.

    >>> message_only('def f(): raise E("a")', 'def f(): raise E("XXaXX")')
    True
    >>> message_only('def f(): raise E("a")', 'def f(): raise E(None)')
    False
    >>> message_only('def f(): return "a"', 'def f(): return "XXaXX"')
    False
    """
    def blank(src: str) -> str:
        return ast.dump(_BlankRaisedText().visit(ast.parse(src)))

    try:
        return original != mutant and blank(original) == blank(mutant)
    except SyntaxError:
        return False


_modules: dict[str, Any] = {}  # mutants file -> parsed module (parsing is the slow part)


def _sources(name: str) -> tuple[str, str, str] | None:
    """(diff, original function, mutant function) from mutmut's own files, in process."""
    try:
        import libcst as cst
        from mutmut.mutation.diff_apply import (
            find_mutant,
            read_mutant_function,
            read_mutants_module,
            read_original_function,
        )

        path = str(find_mutant(name).path)
        if path not in _modules:
            _modules[path] = read_mutants_module(path)
        module = _modules[path]
        orig = cst.Module([read_original_function(module, name)]).code.strip()
        mut = cst.Module([read_mutant_function(module, name)]).code.strip()
    except Exception:  # another mutmut version: fall back to `mutmut show`
        return None
    diff = "\n".join(difflib.unified_diff(orig.split("\n"), mut.split("\n"), path, path,
                                          lineterm=""))
    return diff, orig, mut


def _mutmut(*args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "mutmut", *args], capture_output=True,
                          text=True, check=False)
    return proc.stdout


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    statuses = parse_results(_mutmut("results", "--all", "true"))
    if not statuses:
        print("no mutmut results found: run `mutmut run` first", file=sys.stderr)
        return 2
    if args.pick is not None:
        print("\n".join(_pick(sorted(statuses), args.pick, seed=args.seed)))
        return 0
    if args.only:
        statuses = _only(statuses, args.only)
    counts = Counter(statuses.values())
    survivors = _review(sorted(n for n, s in statuses.items() if s == "survived"),
                        _read_equivalent(Path(args.equivalent)), diffs=not args.no_diffs)
    raw, adjusted = score(statuses), score(statuses, set(survivors.reasons))
    _print_scores(counts, raw, adjusted, survivors)
    _print_survivors(survivors)
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(_report(statuses, counts, raw, adjusted, survivors), indent=1),
                   encoding="utf-8")
    print(f"\nwrote {out}")
    return 0


def _parser() -> argparse.ArgumentParser:
    """The command line's options (``--help``)."""
    parser = argparse.ArgumentParser(prog="python -m warmtier.testing.meta.mutation_report")
    parser.add_argument("--json", default="reports/mutmut.json")
    parser.add_argument("--equivalent", default="tests/zoo/equivalent_mutants.txt",
                        help="survivors judged equivalent, one name per line")
    parser.add_argument("--no-diffs", action="store_true", help="skip `mutmut show` per survivor")
    parser.add_argument("--pick", type=int, metavar="N",
                        help="print a uniform random sample of N mutant names and exit")
    parser.add_argument("--seed", type=int, default=0, help="seed of --pick")
    parser.add_argument("--only", metavar="FILE",
                        help="score only the mutants named in FILE (a --pick sample)")
    return parser


def _pick(names: list[str], n: int, *, seed: int) -> list[str]:
    """A uniform random sample of ``n`` of ``names`` (all of them if fewer), sorted."""
    return sorted(random.Random(seed).sample(names, min(n, len(names))))


def _only(statuses: dict[str, str], path: str) -> dict[str, str]:
    """The statuses of the mutants named in the file ``path`` (a ``--pick`` sample)."""
    wanted = set(Path(path).read_text(encoding="utf-8").split())
    statuses = {n: s for n, s in statuses.items() if n in wanted}
    print(f"sample: {len(statuses)} of the mutants, named in {path}")
    return statuses


def _read_equivalent(path: Path) -> set[str]:
    """The mutant names in ``path`` (one a line, ``#`` comments), none if it is missing."""
    equivalent: set[str] = set()
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            name = line.split("#", 1)[0].strip()
            if name:
                equivalent.add(name)
    return equivalent


@dataclass
class _Survivors:
    """The surviving mutants, their diffs, and why those judged equivalent are."""

    names: list[str]
    diffs: dict[str, str]  # name -> unified diff (none with --no-diffs)
    reasons: dict[str, str]  # name -> "reviewed" or "message text only" (may name non-survivors)


def _review(names: list[str], equivalent: set[str], *, diffs: bool) -> _Survivors:
    """Each survivor's diff (unless not ``diffs``), and the equivalent ones: those in
    ``equivalent`` ("reviewed") and those that change only a raised error's text."""
    survivors = _Survivors(names=names, diffs={}, reasons={n: "reviewed" for n in equivalent})
    if not diffs:
        return survivors
    for name in names:
        found = _sources(name)
        if found is None:
            survivors.diffs[name] = _mutmut("show", name)
            continue
        survivors.diffs[name], orig, mut = found
        if name not in equivalent and message_only(orig, mut):
            survivors.reasons[name] = "message text only"
    return survivors


def _print_scores(
    counts: Counter[str], raw: float | None, adjusted: float | None, survivors: _Survivors
) -> None:
    """The status counts, the mutation score, and the adjusted score if any survivor was
    judged equivalent."""
    print("mutmut: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    if raw is not None:
        print(f"mutation score: {raw:.1%} (killed / reached by a test)")
    judged = set(survivors.reasons) & set(survivors.names)
    if adjusted is not None and judged:
        auto = sum(r == "message text only" for r in survivors.reasons.values())
        print(f"adjusted score: {adjusted:.1%} ({len(judged)} survivors "
              f"judged equivalent: {auto} change only a raised error's text, the rest by "
              "review)")


def _print_survivors(survivors: _Survivors) -> None:
    """Each survivor, tagged if judged equivalent, with the changed lines of its diff."""
    if survivors.names:
        print(f"\n{len(survivors.names)} surviving mutant(s):")
    for name in survivors.names:
        tag = f"  [equivalent: {survivors.reasons[name]}]" if name in survivors.reasons else ""
        print(f"  {name}{tag}")
        for line in survivors.diffs.get(name, "").splitlines():
            if line.startswith(("+", "-")) and not line.startswith(("+++", "---")):
                print(f"      {line}")


def _report(
    statuses: dict[str, str], counts: Counter[str], raw: float | None, adjusted: float | None,
    survivors: _Survivors,
) -> dict[str, Any]:
    """The JSON report: counts, scores, each survivor with its diff, the unreached mutants."""
    return {
        "counts": dict(counts),
        "score": raw,
        "adjusted_score": adjusted,
        "survivors": [{"name": n, "equivalent": n in survivors.reasons,
                       "reason": survivors.reasons.get(n), "diff": survivors.diffs.get(n, "")}
                      for n in survivors.names],
        "no_tests": sorted(n for n, s in statuses.items() if s == "no tests"),
    }


if __name__ == "__main__":
    raise SystemExit(main())
