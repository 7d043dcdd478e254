"""The per-run report: Markdown plus PNG plots, and a command to rebuild or pin runs.

``python -m warmtier.perf.report --results results/scale --reports reports/scale``
rebuilds the latest run's report; ``--run ID`` picks another, ``--pin ID`` makes a run
the baseline of later ones. Plots need matplotlib; without it the Markdown says so.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from warmtier.perf.history import (
    SCHEMA,
    compare_runs,
    git_commit,
    load_runs,
    machine_info,
    merge_parts,
    pick_baseline,
    python_info,
    save_run,
    scale_label,
)
from warmtier.perf.plots import FRAGMENTATION_STAGES, draw_plots
from warmtier.perf.stats import Comparison

__all__ = ["RunOutcome", "build_record", "finalize_run", "main", "write_report"]


@dataclass
class RunOutcome:
    """What a finished run produced, for the terminal summary."""

    record: dict[str, Any]
    run_path: Path | None = None
    report_path: Path | None = None
    baseline_id: str | None = None
    comparisons: list[Comparison] = field(default_factory=list)

    @property
    def regressions(self) -> list[Comparison]:
        return [c for c in self.comparisons if c.verdict == "regression"]


def build_record(
    run_id: str, parts_dir: Path, store: str, options: dict[str, Any]
) -> dict[str, Any]:
    merged = merge_parts(parts_dir)
    return {
        "schema": SCHEMA,
        "run_id": run_id,
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        **git_commit(),
        "python": python_info(),
        "machine": machine_info(),
        "store": store,
        "options": options,
        **merged,
    }


def finalize_run(
    record: dict[str, Any], results_dir: Path | None, reports_dir: Path | None
) -> RunOutcome:
    """Save the run, compare it with its baseline, write its report."""
    outcome = RunOutcome(record)
    history: list[dict[str, Any]] = []
    if results_dir is not None:
        outcome.run_path = save_run(results_dir, record)
        history = load_runs(results_dir)
        baseline = pick_baseline(results_dir, record, history)
        if baseline is not None:
            outcome.baseline_id = baseline["run_id"]
            outcome.comparisons = compare_runs(baseline, record)
    if reports_dir is not None:
        outcome.report_path = write_report(
            record, history or [record], outcome.comparisons, outcome.baseline_id,
            reports_dir / record["run_id"],
        )
        latest = reports_dir / "latest"
        try:
            if latest.is_symlink() or latest.exists():
                latest.unlink()
            latest.symlink_to(record["run_id"])
        except OSError:
            pass
    return outcome


# -- Markdown ----------------------------------------------------------------------------


def _fmt(v: float | None) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    a = abs(v)
    if a >= 1e5:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3g}"


def _outcome_counts(record: dict[str, Any]) -> str:
    counts: dict[str, int] = {}
    for outcome in record.get("outcomes", {}).values():
        counts[outcome] = counts.get(outcome, 0) + 1
    return ", ".join(f"{n} {o}" for o, n in sorted(counts.items())) or "no outcomes"


def _figure_rows(record: dict[str, Any]) -> list[str]:
    rows = [
        "| figure | scale | unit | n | median | p90 | p99 | p99.9 | max |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    figs = sorted(record["figures"].values(), key=lambda f: (f["name"], f["scale"]))
    for f in figs:
        s = f["summary"]
        rows.append(
            f"| {f['name']} | {scale_label(f['scale'])} | {f['unit']} | {int(s.get('n', 0))} | "
            f"{_fmt(s.get('p50'))} | {_fmt(s.get('p90'))} | {_fmt(s.get('p99'))} | "
            f"{_fmt(s.get('p99.9'))} | {_fmt(s.get('max'))} |"
        )
    return rows


def _comparison_rows(comparisons: Sequence[Comparison]) -> list[str]:
    order = {"regression": 0, "improvement": 1, "same": 2}
    rows = [
        "| figure | baseline median | median | change | Mann-Whitney p | Cliff's delta | verdict |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for c in sorted(comparisons, key=lambda c: (order[c.verdict], c.name)):
        verdict = f"**{c.verdict}**" if c.verdict == "regression" else c.verdict
        rows.append(
            f"| {c.name} | {_fmt(c.baseline_median)} | {_fmt(c.current_median)} | "
            f"{c.change:+.1%} | {c.p_value:.2g} | {c.delta:+.2f} | {verdict} |"
        )
    return rows


def write_report(
    record: dict[str, Any],
    history: list[dict[str, Any]],
    comparisons: Sequence[Comparison],
    baseline_id: str | None,
    out_dir: Path,
) -> Path:
    """Write ``report.md`` and its PNGs into ``out_dir``; return the Markdown's path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    plots, plot_note = draw_plots(record, history, out_dir)
    extra = record.get("extra", {})
    lines = [
        *_header_lines(record),
        *_section("Against the baseline", _baseline_lines(comparisons, baseline_id)),
        *_section("Cliffs (trend breaks)", _cliff_lines(extra)),
        *_section("Leak check", _leak_lines(extra.get("leak"))),
        *_section("Fragmentation lifecycle", _fragmentation_lines(extra.get("fragmentation"))),
        *_section("Figures", _figure_rows(record)),
        *_section("Notes", [f"- {n}" for n in record.get("notes") or []]),
        *_section("Plots", _plot_lines(plots, plot_note), always=True),
    ]
    path = out_dir / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def _section(title: str, body: list[str], *, always: bool = False) -> list[str]:
    """A ``## title`` section; none when it has no body, unless ``always``."""
    return ["", f"## {title}", "", *body] if body or always else []


def _header_lines(record: dict[str, Any]) -> list[str]:
    """The title and what ran where: store, commit, Python, machine, tests."""
    py = record.get("python", {})
    mach = record.get("machine", {})
    return [
        f"# warmtier scale report {record['run_id']}",
        "",
        f"- store: `{record.get('store')}`; options: `{record.get('options')}`",
        f"- commit: `{record.get('commit')}`{' (dirty tree)' if record.get('dirty') else ''}; "
        f"date: {record.get('date')}",
        f"- Python {py.get('version')} ({py.get('implementation')}), numpy {py.get('numpy')}",
        f"- machine: {mach.get('hostname')}, {mach.get('cpus')} CPUs, {mach.get('cpu', '?')}, "
        f"{mach.get('platform')}; load average at the end {mach.get('loadavg', '?')}",
        f"- tests: {len(record.get('tests', []))} "
        f"({_outcome_counts(record)}); figures: {len(record['figures'])}",
    ]


def _baseline_lines(comparisons: Sequence[Comparison], baseline_id: str | None) -> list[str]:
    if baseline_id is None:
        return ["No baseline yet: this run becomes the baseline of the next one."]
    regressions = [c for c in comparisons if c.verdict == "regression"]
    lines = [
        f"Baseline run `{baseline_id}`. A change is reported only when the Mann-Whitney "
        "U test gives p < 0.01 **and** Cliff's delta is at least 0.33 (medium) in the "
        f"worse direction. Regressions: **{len(regressions)}**."
    ]
    if comparisons:
        return [*lines, "", *_comparison_rows(comparisons)]
    return [*lines, "", "The baseline shares no figure with this run."]


def _cliff_lines(extra: dict[str, Any]) -> list[str]:
    breaks = extra.get("cliff_breaks", [])
    if breaks:
        return [f"- {b}" for b in breaks]
    if "cliff" in extra:
        return [
            "No figure breaks its trend (threshold: 2x worse than extrapolated for rates, "
            "3x for p99 latencies)."
        ]
    return ["The cliff scenario did not run."]


def _leak_lines(leak: dict[str, Any] | None) -> list[str]:
    if not leak:
        return []
    lines = [
        f"RSS slope {leak['slope_mb']:.3f} MB/cycle, 95% CI {leak['ci_low_mb']:.3f} .. "
        f"{leak['ci_high_mb']:.3f} MB/cycle over {len(leak['rss_mb'])} cycles of "
        f"{leak['per_cycle']:,} puts and removes (fails when the CI's low end exceeds "
        f"{leak['limit_mb']:.1f} MB/cycle).",
    ]
    if "anon_slope_mb" in leak:
        lines += [
            "",
            f"Anonymous memory (heap, without the mapped files' page cache): slope "
            f"{leak['anon_slope_mb']:.3f} MB/cycle, 95% CI {leak['anon_ci_low_mb']:.3f} .. "
            f"{leak['anon_ci_high_mb']:.3f} MB/cycle (same rule).",
        ]
    return lines


def _fragmentation_lines(frag: dict[str, Any] | None) -> list[str]:
    if not frag:
        return []
    lines = [
        "| stage | records | live bytes | allocated bytes | fragmentation |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for stage in FRAGMENTATION_STAGES:
        s = frag.get(stage)
        if s:
            lines.append(
                f"| {stage} | {s['records']:,} | {s['content_live_bytes']:,} | "
                f"{s['content_allocated_bytes']:,} | {s['fragmentation']:.3f} |"
            )
    return lines


def _plot_lines(plots: list[tuple[str, str]], plot_note: str) -> list[str]:
    lines = [plot_note] if plot_note else []
    for title, name in plots:
        lines += [f"### {title}", "", f"![{title}]({name})", ""]
    return lines


# -- command line ------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m warmtier.perf.report", description=__doc__)
    parser.add_argument("--results", type=Path, default=Path("results/scale"))
    parser.add_argument("--reports", type=Path, default=Path("reports/scale"))
    parser.add_argument("--run", help="run id (default: the latest)")
    parser.add_argument("--pin", metavar="RUN_ID", help="make RUN_ID the baseline")
    parser.add_argument("--fail-on-failed-tests", action="store_true",
                        help="exit 1 when a test of the run failed")
    parser.add_argument("--fail-on-regression", action="store_true",
                        help="exit 1 when a figure regressed against the baseline")
    args = parser.parse_args(argv)
    if args.pin:
        args.results.mkdir(parents=True, exist_ok=True)
        (args.results / "BASELINE").write_text(args.pin + "\n")
        print(f"baseline pinned: {args.pin}")
        return 0
    runs = load_runs(args.results)
    if not runs:
        print(f"no runs under {args.results}/runs")
        return 1
    record = next((r for r in runs if r["run_id"] == args.run), None) if args.run else runs[-1]
    if record is None:
        print(f"no run {args.run!r} under {args.results}/runs")
        return 1
    baseline = pick_baseline(args.results, record, runs)
    comparisons = compare_runs(baseline, record) if baseline else []
    path = write_report(
        record, runs, comparisons, baseline["run_id"] if baseline else None,
        args.reports / record["run_id"],
    )
    print(f"report: {path}")
    status = 0
    failed = [t for t, o in record.get("outcomes", {}).items() if o == "failed"]
    for t in failed:
        print(f"FAILED {t}")
    if failed and args.fail_on_failed_tests:
        status = 1
    regressions = [c for c in comparisons if c.verdict == "regression"]
    for c in regressions:
        print(f"REGRESSION {c.describe()}")
    if regressions and args.fail_on_regression:
        status = 1
    return status


if __name__ == "__main__":
    raise SystemExit(main())
