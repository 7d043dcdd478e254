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

import numpy as np

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
from warmtier.perf.stats import Comparison

__all__ = ["RunOutcome", "build_record", "finalize_run", "main", "write_report"]

HEADLINE = (
    "put_rate",
    "get_us",
    "put_us",
    "scan_items_per_s",
    "search_s",
    "open_s",
    "rss_mb",
    "slope_mb",
)


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
    plots, plot_note = _plots(record, history, out_dir)
    py = record.get("python", {})
    mach = record.get("machine", {})
    lines = [
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
        "",
        "## Against the baseline",
        "",
    ]
    if baseline_id is None:
        lines.append("No baseline yet: this run becomes the baseline of the next one.")
    else:
        regressions = [c for c in comparisons if c.verdict == "regression"]
        lines.append(
            f"Baseline run `{baseline_id}`. A change is reported only when the Mann-Whitney "
            "U test gives p < 0.01 **and** Cliff's delta is at least 0.33 (medium) in the "
            f"worse direction. Regressions: **{len(regressions)}**."
        )
        if comparisons:
            lines += ["", *_comparison_rows(comparisons)]
        else:
            lines += ["", "The baseline shares no figure with this run."]
    breaks = record.get("extra", {}).get("cliff_breaks", [])
    lines += ["", "## Cliffs (trend breaks)", ""]
    if breaks:
        lines += [f"- {b}" for b in breaks]
    elif "cliff" in record.get("extra", {}):
        lines.append(
            "No figure breaks its trend (threshold: 2x worse than extrapolated for rates, "
            "3x for p99 latencies)."
        )
    else:
        lines.append("The cliff scenario did not run.")
    leak = record.get("extra", {}).get("leak")
    if leak:
        lines += [
            "",
            "## Leak check",
            "",
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
    frag = record.get("extra", {}).get("fragmentation")
    if frag:
        lines += ["", "## Fragmentation lifecycle", ""]
        lines += [
            "| stage | records | live bytes | allocated bytes | fragmentation |",
            "| --- | ---: | ---: | ---: | ---: |",
        ]
        for stage in ("stored", "after_remove", "after_refill", "after_compact"):
            s = frag.get(stage)
            if s:
                lines.append(
                    f"| {stage} | {s['records']:,} | {s['content_live_bytes']:,} | "
                    f"{s['content_allocated_bytes']:,} | {s['fragmentation']:.3f} |"
                )
    lines += ["", "## Figures", "", *_figure_rows(record)]
    if record.get("notes"):
        lines += ["", "## Notes", "", *[f"- {n}" for n in record["notes"]]]
    lines += ["", "## Plots", ""]
    if plot_note:
        lines.append(plot_note)
    for title, name in plots:
        lines += [f"### {title}", "", f"![{title}]({name})", ""]
    path = out_dir / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path


# -- plots -------------------------------------------------------------------------------


def _series(record: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return sorted(
        (f for f in record["figures"].values() if f["name"] == name), key=lambda f: f["scale"]
    )


def _plots(
    record: dict[str, Any], history: list[dict[str, Any]], out_dir: Path
) -> tuple[list[tuple[str, str]], str]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return [], "matplotlib is not installed: no plots (install the `scale` extra)."
    made: list[tuple[str, str]] = []
    extra = record.get("extra", {})

    # 1. Latency percentiles against scale.
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    drew = False
    for ax, op in zip(axes, ("put", "get"), strict=True):
        series = _series(record, f"cliff.{op}_us") or sorted(
            (f for f in record["figures"].values() if f["name"].endswith(f".{op}_us")),
            key=lambda f: f["scale"],
        )
        if not series:
            ax.set_visible(False)
            continue
        drew = True
        xs = [f["scale"] for f in series]
        for q in ("p50", "p90", "p99", "p99.9"):
            ax.plot(xs, [f["summary"].get(q, np.nan) for f in series], marker="o", label=q)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("records in store")
        ax.set_ylabel("latency (us)")
        ax.set_title(f"{op} latency percentiles vs scale")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    if drew:
        fig.tight_layout()
        fig.savefig(out_dir / "latency_vs_scale.png", dpi=110)
        made.append(("Latency percentiles against scale", "latency_vs_scale.png"))
    plt.close(fig)

    # 2. Throughput cliff curve.
    cliff = extra.get("cliff")
    if cliff:
        fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
        scales = cliff["scales"]
        panels = (
            ("put_rate", "put rate (ops/s)"),
            ("scan_items_per_s", "scan (items/s)"),
            ("get_p99_us", "get p99 (us)"),
        )
        flagged = {(b["figure"], b["scale"]) for b in cliff.get("breaks", [])}
        for ax, (key, label) in zip(axes, panels, strict=True):
            ys = cliff.get(key, [])
            ax.plot(scales[: len(ys)], ys, marker="o")
            if key == "put_rate" and cliff.get("put_rate_q25"):
                ax.fill_between(scales[: len(ys)], cliff["put_rate_q25"], cliff["put_rate_q75"],
                                alpha=0.25, label="batch rate IQR")
                ax.legend()
            if key != "get_p99_us":
                ax.set_ylim(bottom=0)
            for x, y in zip(scales, ys, strict=False):
                if (key, x) in flagged:
                    ax.plot([x], [y], "rx", markersize=14, mew=3)
            ax.set_xscale("log")
            ax.set_xlabel("records in store")
            ax.set_ylabel(label)
            ax.set_title(label + (" - cliff!" if any(k == key for k, _ in flagged) else ""))
            ax.grid(True, which="both", alpha=0.3)
        fig.tight_layout()
        fig.savefig(out_dir / "cliff.png", dpi=110)
        plt.close(fig)
        made.append(("Throughput cliff curve (red x: trend break)", "cliff.png"))

    # 3. RSS per leak cycle with its fitted line.
    leak = extra.get("leak")
    if leak:
        fig, ax = plt.subplots(figsize=(6.5, 4.2))
        cycles = np.arange(1, len(leak["rss_mb"]) + 1)
        ax.plot(cycles, leak["rss_mb"], "o", label="RSS after cycle")
        fit = leak["intercept_mb"] + leak["slope_mb"] * cycles
        ax.plot(
            cycles,
            fit,
            "-",
            label=f"RSS fit: {leak['slope_mb']:.3f} MB/cycle "
            f"[{leak['ci_low_mb']:.3f}, {leak['ci_high_mb']:.3f}]",
        )
        if "anon_mb" in leak:
            ax.plot(cycles, leak["anon_mb"], "s", label="anonymous RSS after cycle")
            ax.plot(
                cycles,
                leak["anon_intercept_mb"] + leak["anon_slope_mb"] * cycles,
                "--",
                label=f"anon fit: {leak['anon_slope_mb']:.3f} MB/cycle "
                f"[{leak['anon_ci_low_mb']:.3f}, {leak['anon_ci_high_mb']:.3f}]",
            )
        ax.set_xlabel("cycle")
        ax.set_ylabel("RSS (MB)")
        ax.ticklabel_format(axis="y", useOffset=False, style="plain")
        ax.set_title(f"leak check: {leak['per_cycle']:,} puts + removes per cycle")
        ax.grid(True, alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(out_dir / "leak.png", dpi=110)
        plt.close(fig)
        made.append(("RSS per leak cycle with its fitted line", "leak.png"))

    # 4. Fragmentation before and after compaction.
    frag = extra.get("fragmentation")
    if frag:
        stages = [s for s in ("stored", "after_remove", "after_refill", "after_compact") if s in frag]
        fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
        axes[0].bar(stages, [frag[s]["fragmentation"] for s in stages], color="tab:orange")
        axes[0].set_ylabel("fragmentation (share of allocated span)")
        axes[0].set_ylim(0, 1)
        axes[0].set_title("fragmentation by stage")
        width = 0.4
        x = np.arange(len(stages))
        axes[1].bar(x - width / 2, [frag[s]["content_live_bytes"] / 1e6 for s in stages], width,
                    label="live")
        axes[1].bar(x + width / 2, [frag[s]["content_allocated_bytes"] / 1e6 for s in stages],
                    width, label="allocated")
        axes[1].set_xticks(x, stages)
        axes[1].set_ylabel("content MB")
        axes[1].set_title("live vs allocated content")
        axes[1].legend()
        for ax in axes:
            ax.tick_params(axis="x", labelrotation=15)
        fig.tight_layout()
        fig.savefig(out_dir / "fragmentation.png", dpi=110)
        plt.close(fig)
        made.append(("Fragmentation before and after compaction", "fragmentation.png"))

    # 5. Trend lines over the stored history.
    keys = _trend_keys(record)
    if keys:
        cols = 3
        rows = math.ceil(len(keys) / cols)
        fig, axes_grid = plt.subplots(rows, cols, figsize=(14, 3.4 * rows), squeeze=False)
        runs = [r for r in history if r.get("store") == record.get("store")]
        for ax, key in zip(axes_grid.ravel(), keys, strict=False):
            xs, med, lo, hi = [], [], [], []
            for i, run in enumerate(runs):
                f = run["figures"].get(key)
                if f is None:
                    continue
                s = np.asarray(f["samples"], dtype=float)
                xs.append(i)
                med.append(float(np.median(s)))
                lo.append(float(np.percentile(s, 10)))
                hi.append(float(np.percentile(s, 90)))
            ax.plot(xs, med, marker="o")
            ax.fill_between(xs, lo, hi, alpha=0.25)
            ax.set_title(f"{key} ({record['figures'][key]['unit']})", fontsize=9)
            ax.set_xticks(xs, [runs[i].get("date", "")[5:16].replace("T", " ") for i in xs],
                          fontsize=7, rotation=30)
            ax.ticklabel_format(axis="y", useOffset=False, style="plain")
            ax.grid(True, alpha=0.3)
        for ax in axes_grid.ravel()[len(keys):]:
            ax.set_visible(False)
        fig.suptitle("median and 10-90% band over stored runs")
        fig.tight_layout()
        fig.savefig(out_dir / "trends.png", dpi=100)
        plt.close(fig)
        made.append((f"Trend lines over {len(history)} stored run(s)", "trends.png"))
    return made, ""


def _trend_keys(record: dict[str, Any]) -> list[str]:
    keys = []
    for key, f in sorted(record["figures"].items()):
        name = f["name"]
        if f["better"] != "none" and not name.startswith(("cliff.", "smoke.")) and (
            name.rsplit(".", 1)[-1] in HEADLINE
        ):
            keys.append(key)
    return keys[:12]


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
