"""The merged report of one night: every shard's results folded per suite (units, tests,
examples, rounds, schedules, time, failures new and known), compared with the night before.

    python -m warmtier.campaign.report reports/campaign/2025-01-31 --markdown summary.md --html report.html

Writes ``summary.json`` into the night's directory (the next night compares with it),
``durations.json`` (seconds per unit: the next night's shards split by it), and the Markdown (for ``$GITHUB_STEP_SUMMARY``) and HTML (with the scale plots inlined) pages.
"""

from __future__ import annotations

import argparse
import base64
import html
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from warmtier.campaign.durations import FILE_NAME, night_durations
from warmtier.campaign.sharding import SUITES

__all__ = ["main", "merge", "to_html", "to_markdown", "write_durations"]

_COUNTS = (("examples", "examples"), ("replayed", "replayed first"),
           ("crash_rounds", "kill rounds"), ("images", "power-loss images"),
           ("schedules", "schedules"), ("zoo_caught", "zoo caught"),
           ("zoo_members", "zoo members"))


def _shards(night_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text(encoding="utf-8"))
            for p in sorted(night_dir.glob("shard-*-of-*.json"))]


def write_durations(night_dir: Path) -> Path:
    """Write the night's ``durations.json``: the seconds each unit took on its shard
    (units that did not run keep the latest earlier night's); return its path."""
    out = night_dir / FILE_NAME
    out.write_text(json.dumps(night_durations(_shards(night_dir), night_dir), indent=1),
                   encoding="utf-8")
    return out


def merge(night_dir: Path) -> dict[str, Any]:
    """Fold ``shard-*-of-N.json`` of one night into one summary (missing shards listed)."""
    shards = _shards(night_dir)
    totals = {int(s["shard"].split("/")[1]) for s in shards}
    expected = max(totals) if totals else 0
    seen = sorted(int(s["shard"].split("/")[0]) for s in shards)
    suites: dict[str, dict[str, Any]] = {}
    for shard in shards:
        for name, r in shard["suites"].items():
            into = suites.setdefault(name, {"units": 0, "tests": 0, "seconds": 0.0,
                                            "counts": {}, "new": [], "known": []})
            into["units"] += r["units"]
            into["tests"] += r["tests"]
            into["seconds"] += r["seconds"]
            for key, value in r["counts"].items():
                into["counts"][key] = into["counts"].get(key, 0) + value
            for f in r["failures"]:
                (into["new"] if f.get("new") else into["known"]).append(f)
    return {"night": night_dir.name, "shards_expected": expected, "shards_seen": seen,
            "missing_shards": [i for i in range(1, expected + 1) if i not in seen],
            "seeds": {s["shard"]: s["seed"] for s in shards},
            "commits": sorted({s["commit"] for s in shards}),
            "wall_seconds": max((s["seconds"] for s in shards), default=0.0),
            "planned_units": max((s["planned_units"] for s in shards), default=0),
            "units_run": sum(len(s["units"]) for s in shards), "suites": suites}


def previous(night_dir: Path) -> dict[str, Any] | None:
    """The summary of the latest earlier night next to ``night_dir``, if any."""
    earlier = sorted(p for p in night_dir.parent.iterdir()
                     if p.is_dir() and p.name < night_dir.name and (p / "summary.json").exists())
    if not earlier:
        return None
    data: dict[str, Any] = json.loads((earlier[-1] / "summary.json").read_text(encoding="utf-8"))
    return data


def _per_minute(r: dict[str, Any], key: str) -> str:
    value = r["counts"].get(key, 0)
    return f"{value:.0f} ({value / max(r['seconds'] / 60, 1e-9):.0f}/min)" if value else "-"


def _delta(now: float, before: float | None) -> str:
    if before is None:
        return ""
    return f" ({now - before:+.0f})"


def to_markdown(summary: dict[str, Any], before: dict[str, Any] | None) -> str:
    """The night as Markdown: coverage, one row per suite, then every failure."""
    s = summary
    lines = [f"# warmtier nightly campaign, {s['night']}", ""]
    lines.append(f"Shards {len(s['shards_seen'])} of {s['shards_expected']}"
                 + (f", **missing {s['missing_shards']}**" if s["missing_shards"] else "")
                 + f"; units {s['units_run']} of {s['planned_units']}; wall "
                 f"{s['wall_seconds'] / 60:.1f} min; commit {', '.join(c[:10] for c in s['commits'])}"
                 f"; seeds {s['seeds']}.")
    if before:
        lines.append(f"Compared with {before['night']}.")
    lines += ["", "| suite | units | tests | examples | kill rounds | power-loss images | schedules "
              "| zoo caught | minutes | new failures | known failures |",
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    old = (before or {}).get("suites", {})
    for name in [n for n in SUITES if n in s["suites"]]:
        r = s["suites"][name]
        o = old.get(name)
        zoo = (f"{r['counts'].get('zoo_caught', 0):.0f}/{r['counts'].get('zoo_members', 0):.0f}"
               if name == "zoo" else "-")
        lines.append(
            f"| {name} | {r['units']} | {r['tests']} | {_per_minute(r, 'examples')} | "
            f"{_per_minute(r, 'crash_rounds')} | {_per_minute(r, 'images')} | "
            f"{_per_minute(r, 'schedules')} | {zoo} | "
            f"{r['seconds'] / 60:.1f} | {len(r['new'])}"
            f"{_delta(len(r['new']), len(o['new']) if o else None)} | {len(r['known'])}"
            f"{_delta(len(r['known']), len(o['known']) if o else None)} |")
    failures = [(n, f, "new") for n, r in s["suites"].items() for f in r["new"]] + \
               [(n, f, "known") for n, r in s["suites"].items() for f in r["known"]]
    if failures:
        lines += ["", "## Failures", "", "| id | suite | kind | test | seen | replay |",
                  "| --- | --- | --- | --- | --- | --- |"]
        for suite, f, age in failures:
            lines.append(f"| `{f['id']}` | {suite} | {f['kind']} | `{f['test']}` | {age}, "
                         f"{f.get('count', 1)}× | `{f['replay']}` |")
        lines += ["", "Replay any of them with `warmtier replay ID` (with `--shared-db`)."]
    else:
        lines += ["", "No failures."]
    return "\n".join(lines) + "\n"


def to_html(markdown: str, plots: Sequence[Path]) -> str:
    """A self-contained page: the Markdown (as preformatted text) and the scale plots."""
    images = "\n".join(
        f'<figure><img alt="{html.escape(p.name)}" src="data:image/png;base64,'
        f'{base64.b64encode(p.read_bytes()).decode()}"><figcaption>{html.escape(p.name)}'
        "</figcaption></figure>" for p in plots)
    return ("<!doctype html><meta charset=utf-8><title>warmtier nightly</title>"
            "<style>body{font-family:sans-serif;max-width:72em;margin:2em auto}"
            "pre{white-space:pre-wrap}img{max-width:100%}</style>"
            f"<pre>{html.escape(markdown)}</pre>\n{images}\n")


def _scale_plots(reports: Path) -> list[Path]:
    runs = sorted(p for p in reports.glob("2*") if p.is_dir())
    return sorted(runs[-1].rglob("*.png")) if runs else []


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m warmtier.campaign.report",
                                description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("night", help="the night's directory, e.g. reports/campaign/2025-01-31")
    p.add_argument("--markdown", default=None, help="write the Markdown here")
    p.add_argument("--html", default=None, help="write the HTML page here")
    p.add_argument("--scale-reports", default="reports/scale", help="where the scale plots are")
    args = p.parse_args(argv)
    night = Path(args.night)
    summary = merge(night)
    before = previous(night)
    (night / "summary.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
    write_durations(night)
    markdown = to_markdown(summary, before)
    print(markdown)
    if args.markdown:
        Path(args.markdown).write_text(markdown, encoding="utf-8")
    if args.html:
        Path(args.html).write_text(to_html(markdown, _scale_plots(Path(args.scale_reports))),
                                   encoding="utf-8")
    failed = any(r["new"] or r["known"] for r in summary["suites"].values())
    return 1 if failed or summary["missing_shards"] else 0


if __name__ == "__main__":
    sys.exit(main())
