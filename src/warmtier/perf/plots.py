"""The per-run report's PNG plots: latency against scale, the cliff curve, the leak fit,
fragmentation by stage and trends over the stored runs (matplotlib, Agg backend).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["FRAGMENTATION_STAGES", "HEADLINE", "draw_plots"]

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
"""Figure name endings worth a trend line over the stored runs."""

FRAGMENTATION_STAGES = ("stored", "after_remove", "after_refill", "after_compact")
"""The fragmentation scenario's stages, in the order they happen."""

Plot = tuple[str, str]
"""A drawn plot: its title and its PNG's file name in the report directory."""

Run = dict[str, Any]
"""A run record as stored (JSON)."""


def draw_plots(record: Run, history: list[Run], out_dir: Path) -> tuple[list[Plot], str]:
    """Draw every plot ``record`` has data for into ``out_dir``; return the plots drawn and
    a note for the report ("" unless matplotlib is missing)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot  # fails here, not in a drawer, when pyplot cannot load
    except ImportError:
        return [], "matplotlib is not installed: no plots (install the `scale` extra)."
    made = [plot for draw in _DRAWERS if (plot := draw(record, history, out_dir)) is not None]
    return made, ""


def _save(fig: Figure, out_dir: Path, name: str, title: str, dpi: int = 110) -> Plot:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(out_dir / name, dpi=dpi)
    plt.close(fig)
    return title, name


# -- 1. latency percentiles against scale ------------------------------------------------


def _series(record: Run, name: str) -> list[dict[str, Any]]:
    return sorted(
        (f for f in record["figures"].values() if f["name"] == name), key=lambda f: f["scale"]
    )


def _latency_series(record: Run, op: str) -> list[dict[str, Any]]:
    """The cliff scenario's ``op`` latency figures by scale, else any ``*.{op}_us``."""
    return _series(record, f"cliff.{op}_us") or sorted(
        (f for f in record["figures"].values() if f["name"].endswith(f".{op}_us")),
        key=lambda f: f["scale"],
    )


def _latency_panel(ax: Axes, series: list[dict[str, Any]], op: str) -> bool:
    """Percentile lines of ``op`` against scale; hide the panel (False) without data."""
    if not series:
        ax.set_visible(False)
        return False
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
    return True


def _latency_vs_scale(record: Run, history: list[Run], out_dir: Path) -> Plot | None:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    drew = [
        _latency_panel(ax, _latency_series(record, op), op)
        for ax, op in zip(axes, ("put", "get"), strict=True)
    ]
    if not any(drew):
        plt.close(fig)
        return None
    return _save(fig, out_dir, "latency_vs_scale.png", "Latency percentiles against scale")


# -- 2. throughput cliff curve -----------------------------------------------------------


class _CliffPanel(NamedTuple):
    key: str
    label: str
    from_zero: bool
    band: tuple[str, str] | None = None  # keys of the interquartile band, when recorded


_CLIFF_PANELS = (
    _CliffPanel("put_rate", "put rate (ops/s)", True, ("put_rate_q25", "put_rate_q75")),
    _CliffPanel("scan_items_per_s", "scan (items/s)", True),
    _CliffPanel("get_p99_us", "get p99 (us)", False),
)


def _cliff_panel(
    ax: Axes, cliff: dict[str, Any], panel: _CliffPanel, flagged: set[tuple[str, int]]
) -> None:
    """One figure of the cliff table against scale, a red x on each trend break."""
    scales, key, label = cliff["scales"], panel.key, panel.label
    ys = cliff.get(key, [])
    ax.plot(scales[: len(ys)], ys, marker="o")
    if panel.band is not None and cliff.get(panel.band[0]):
        ax.fill_between(scales[: len(ys)], cliff[panel.band[0]], cliff[panel.band[1]],
                        alpha=0.25, label="batch rate IQR")
        ax.legend()
    if panel.from_zero:
        ax.set_ylim(bottom=0)
    for x, y in zip(scales, ys, strict=False):
        if (key, x) in flagged:
            ax.plot([x], [y], "rx", markersize=14, mew=3)
    ax.set_xscale("log")
    ax.set_xlabel("records in store")
    ax.set_ylabel(label)
    ax.set_title(label + (" - cliff!" if any(k == key for k, _ in flagged) else ""))
    ax.grid(True, which="both", alpha=0.3)


def _cliff_curve(record: Run, history: list[Run], out_dir: Path) -> Plot | None:
    cliff = record.get("extra", {}).get("cliff")
    if not cliff:
        return None
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    flagged = {(b["figure"], b["scale"]) for b in cliff.get("breaks", [])}
    for ax, panel in zip(axes, _CLIFF_PANELS, strict=True):
        _cliff_panel(ax, cliff, panel, flagged)
    return _save(fig, out_dir, "cliff.png", "Throughput cliff curve (red x: trend break)")


# -- 3. RSS per leak cycle with its fitted line ------------------------------------------


class _FitSeries(NamedTuple):
    values: str  # key of the per-cycle values
    prefix: str  # prefix of the fit's keys (slope_mb, intercept_mb, ci_low_mb, ci_high_mb)
    marker: str
    line: str
    label: str
    fit_label: str


_LEAK_SERIES = (
    _FitSeries("rss_mb", "", "o", "-", "RSS after cycle", "RSS fit"),
    _FitSeries("anon_mb", "anon_", "s", "--", "anonymous RSS after cycle", "anon fit"),
)


def _fit_series(
    ax: Axes, leak: dict[str, Any], cycles: npt.NDArray[np.int_], s: _FitSeries
) -> None:
    """The per-cycle values as points and their least-squares line, slope and CI in the
    legend."""
    ax.plot(cycles, leak[s.values], s.marker, label=s.label)
    slope = leak[s.prefix + "slope_mb"]
    ax.plot(
        cycles,
        leak[s.prefix + "intercept_mb"] + slope * cycles,
        s.line,
        label=f"{s.fit_label}: {slope:.3f} MB/cycle "
        f"[{leak[s.prefix + 'ci_low_mb']:.3f}, {leak[s.prefix + 'ci_high_mb']:.3f}]",
    )


def _leak_fit(record: Run, history: list[Run], out_dir: Path) -> Plot | None:
    leak = record.get("extra", {}).get("leak")
    if not leak:
        return None
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    cycles = np.arange(1, len(leak["rss_mb"]) + 1)
    for series in _LEAK_SERIES:
        if series.values in leak:
            _fit_series(ax, leak, cycles, series)
    ax.set_xlabel("cycle")
    ax.set_ylabel("RSS (MB)")
    ax.ticklabel_format(axis="y", useOffset=False, style="plain")
    ax.set_title(f"leak check: {leak['per_cycle']:,} puts + removes per cycle")
    ax.grid(True, alpha=0.3)
    ax.legend()
    return _save(fig, out_dir, "leak.png", "RSS per leak cycle with its fitted line")


# -- 4. fragmentation before and after compaction ----------------------------------------


def _fragmentation_panel(ax: Axes, frag: dict[str, Any], stages: list[str]) -> None:
    ax.bar(stages, [frag[s]["fragmentation"] for s in stages], color="tab:orange")
    ax.set_ylabel("fragmentation (share of allocated span)")
    ax.set_ylim(0, 1)
    ax.set_title("fragmentation by stage")


def _content_panel(ax: Axes, frag: dict[str, Any], stages: list[str]) -> None:
    width = 0.4
    x = np.arange(len(stages))
    ax.bar(x - width / 2, [frag[s]["content_live_bytes"] / 1e6 for s in stages], width,
           label="live")
    ax.bar(x + width / 2, [frag[s]["content_allocated_bytes"] / 1e6 for s in stages],
           width, label="allocated")
    ax.set_xticks(x, stages)
    ax.set_ylabel("content MB")
    ax.set_title("live vs allocated content")
    ax.legend()


def _fragmentation(record: Run, history: list[Run], out_dir: Path) -> Plot | None:
    frag = record.get("extra", {}).get("fragmentation")
    if not frag:
        return None
    import matplotlib.pyplot as plt

    stages = [s for s in FRAGMENTATION_STAGES if s in frag]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    _fragmentation_panel(axes[0], frag, stages)
    _content_panel(axes[1], frag, stages)
    for ax in axes:
        ax.tick_params(axis="x", labelrotation=15)
    return _save(fig, out_dir, "fragmentation.png", "Fragmentation before and after compaction")


# -- 5. trend lines over the stored history ----------------------------------------------


def _trend_keys(record: Run) -> list[str]:
    keys = []
    for key, f in sorted(record["figures"].items()):
        name = f["name"]
        if f["better"] != "none" and not name.startswith(("cliff.", "smoke.")) and (
            name.rsplit(".", 1)[-1] in HEADLINE
        ):
            keys.append(key)
    return keys[:12]


def _trend_band(
    runs: list[Run], key: str
) -> tuple[list[int], list[float], list[float], list[float]]:
    """Positions in ``runs`` that measured ``key``, with each one's median, p10 and p90."""
    xs: list[int] = []
    med: list[float] = []
    lo: list[float] = []
    hi: list[float] = []
    for i, run in enumerate(runs):
        f = run["figures"].get(key)
        if f is None:
            continue
        s = np.asarray(f["samples"], dtype=float)
        xs.append(i)
        med.append(float(np.median(s)))
        lo.append(float(np.percentile(s, 10)))
        hi.append(float(np.percentile(s, 90)))
    return xs, med, lo, hi


def _trend_panel(ax: Axes, runs: list[Run], key: str, unit: str) -> None:
    xs, med, lo, hi = _trend_band(runs, key)
    ax.plot(xs, med, marker="o")
    ax.fill_between(xs, lo, hi, alpha=0.25)
    ax.set_title(f"{key} ({unit})", fontsize=9)
    ax.set_xticks(xs, [runs[i].get("date", "")[5:16].replace("T", " ") for i in xs],
                  fontsize=7, rotation=30)
    ax.ticklabel_format(axis="y", useOffset=False, style="plain")
    ax.grid(True, alpha=0.3)


def _trends(record: Run, history: list[Run], out_dir: Path) -> Plot | None:
    keys = _trend_keys(record)
    if not keys:
        return None
    import matplotlib.pyplot as plt

    cols = 3
    rows = math.ceil(len(keys) / cols)
    fig, axes_grid = plt.subplots(rows, cols, figsize=(14, 3.4 * rows), squeeze=False)
    runs = [r for r in history if r.get("store") == record.get("store")]
    for ax, key in zip(axes_grid.ravel(), keys, strict=False):
        _trend_panel(ax, runs, key, record["figures"][key]["unit"])
    for ax in axes_grid.ravel()[len(keys):]:
        ax.set_visible(False)
    fig.suptitle("median and 10-90% band over stored runs")
    title = f"Trend lines over {len(history)} stored run(s)"
    return _save(fig, out_dir, "trends.png", title, dpi=100)


_DRAWERS: tuple[Callable[[Run, list[Run], Path], Plot | None], ...] = (
    _latency_vs_scale,
    _cliff_curve,
    _leak_fit,
    _fragmentation,
    _trends,
)
"""Every plot of the report, in the report's order."""
