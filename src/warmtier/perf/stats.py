"""Statistics of the scale suite: percentiles, Mann-Whitney U with Cliff's delta,
least-squares slope with a confidence interval, and trend-break (cliff) detection.

scipy is used when installed; every function has an exact or well-approximated numpy
fallback, so the CI gate's smoke tests run without it.

>>> fit = linear_fit([0, 1, 2, 3], [1.0, 3.0, 5.0, 7.0])
>>> round(fit.slope, 6), round(fit.ci_low, 6), round(fit.ci_high, 6)
(2.0, 2.0, 2.0)
>>> round(cliffs_delta([1, 2, 3], [4, 5, 6]), 3)
-1.0
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

__all__ = [
    "PERCENTILES",
    "Comparison",
    "LinearFit",
    "TrendBreak",
    "cliffs_delta",
    "compare_samples",
    "find_trend_breaks",
    "linear_fit",
    "mann_whitney_p",
    "percentiles",
    "sketch",
    "summarize",
    "t_quantile",
    "t_quantile_approx",
]

Better = Literal["lower", "higher"]
PERCENTILES: tuple[float, ...] = (50.0, 90.0, 95.0, 99.0, 99.9)

ArrayLike = Sequence[float] | npt.NDArray[Any]


def _arr(values: ArrayLike) -> npt.NDArray[np.float64]:
    return np.asarray(values, dtype=np.float64).ravel()


def percentiles(values: ArrayLike, qs: Sequence[float] = PERCENTILES) -> dict[str, float]:
    """``{"p50": ..., "p99.9": ..., "max": ...}`` of ``values`` (linear interpolation)."""
    a = _arr(values)
    if a.size == 0:
        return {}
    out = {f"p{q:g}": float(v) for q, v in zip(qs, np.percentile(a, qs), strict=True)}
    out["max"] = float(a.max())
    return out


def summarize(values: ArrayLike) -> dict[str, float]:
    """Count, mean, standard deviation, min, the usual percentiles and max."""
    a = _arr(values)
    if a.size == 0:
        return {"n": 0}
    out = {
        "n": float(a.size),
        "mean": float(a.mean()),
        "std": float(a.std(ddof=1)) if a.size > 1 else 0.0,
        "min": float(a.min()),
    }
    out.update(percentiles(a))
    return out


def sketch(values: ArrayLike, points: int = 1000) -> list[float]:
    """At most ``points`` values that keep the distribution: the samples themselves when
    few, else evenly spaced quantiles (min and max included). What run records store."""
    a = np.sort(_arr(values))
    if a.size <= points:
        return [float(v) for v in a]
    idx = np.linspace(0, a.size - 1, points)
    return [float(v) for v in np.interp(idx, np.arange(a.size), a)]


# -- comparing two distributions ---------------------------------------------------------


def cliffs_delta(a: ArrayLike, b: ArrayLike) -> float:
    """P(a > b) - P(a < b), from -1 to 1; ``|d|`` >= 0.147 small, 0.33 medium, 0.474 large.

    O((n + m) log m) by sorting, exact with ties.
    """
    x, y = _arr(a), np.sort(_arr(b))
    if x.size == 0 or y.size == 0:
        return 0.0
    below = np.searchsorted(y, x, side="left")  # y < x
    not_above = np.searchsorted(y, x, side="right")  # y <= x
    greater = float(below.sum())
    less = float((y.size - not_above).sum())
    return (greater - less) / (x.size * y.size)


def mann_whitney_p(a: ArrayLike, b: ArrayLike) -> float:
    """Two-sided p-value of the Mann-Whitney U test (scipy; else normal approximation
    with tie correction)."""
    x, y = _arr(a), _arr(b)
    if x.size == 0 or y.size == 0:
        return 1.0
    if np.all(x == x[0]) and np.all(y == x[0]):
        return 1.0
    try:
        from scipy.stats import mannwhitneyu

        return float(mannwhitneyu(x, y, alternative="two-sided").pvalue)
    except ImportError:
        pass
    n, m = x.size, y.size
    both = np.concatenate([x, y])
    order = both.argsort(kind="mergesort")
    ranks = np.empty_like(both)
    sorted_vals = both[order]
    # Average ranks of ties.
    _, first, counts = np.unique(sorted_vals, return_index=True, return_counts=True)
    avg = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(avg, counts)
    u = ranks[:n].sum() - n * (n + 1) / 2.0
    mu = n * m / 2.0
    tie = float((counts**3 - counts).sum())
    sigma2 = n * m / 12.0 * ((n + m + 1) - tie / ((n + m) * (n + m - 1)))
    if sigma2 <= 0:
        return 1.0
    z = (abs(u - mu) - 0.5) / math.sqrt(sigma2)
    return float(min(1.0, 2.0 * (1.0 - NormalDist().cdf(max(z, 0.0)))))


@dataclass(frozen=True)
class Comparison:
    """Current samples against baseline samples of one figure."""

    name: str
    baseline_median: float
    current_median: float
    change: float  # relative change of the median, current / baseline - 1
    p_value: float
    delta: float  # Cliff's delta of current against baseline
    verdict: Literal["regression", "improvement", "same"]

    def describe(self) -> str:
        return (
            f"{self.name}: median {self.baseline_median:.4g} -> {self.current_median:.4g} "
            f"({self.change:+.1%}), Mann-Whitney p={self.p_value:.2g}, "
            f"Cliff's delta={self.delta:+.2f}: {self.verdict}"
        )


def compare_samples(
    name: str,
    baseline: ArrayLike,
    current: ArrayLike,
    better: Better,
    *,
    alpha: float = 0.01,
    min_delta: float = 0.33,
) -> Comparison:
    """A regression (or improvement) only when the Mann-Whitney p-value is below ``alpha``
    and Cliff's delta is at least ``min_delta`` (medium) in the worse (better) direction."""
    b, c = _arr(baseline), _arr(current)
    bm = float(np.median(b)) if b.size else math.nan
    cm = float(np.median(c)) if c.size else math.nan
    change = cm / bm - 1.0 if bm not in (0.0,) and not math.isnan(bm) else math.nan
    p = mann_whitney_p(c, b)
    d = cliffs_delta(c, b)
    worse = d if better == "lower" else -d
    verdict: Literal["regression", "improvement", "same"] = "same"
    if p < alpha and abs(d) >= min_delta:
        verdict = "regression" if worse > 0 else "improvement"
    return Comparison(name, bm, cm, change, p, d, verdict)


# -- least squares -----------------------------------------------------------------------


def t_quantile(p: float, df: float) -> float:
    """Quantile of Student's t (scipy; else :func:`t_quantile_approx`)."""
    try:
        from scipy.stats import t

        return float(t.ppf(p, df))
    except ImportError:
        return t_quantile_approx(p, df)


def t_quantile_approx(p: float, df: float) -> float:
    """Cornish-Fisher expansion of Student's t quantile: within 0.2% for df >= 3.

    >>> round(t_quantile_approx(0.975, 8), 3)
    2.306
    """
    z = NormalDist().inv_cdf(p)
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    g4 = (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160
    return float(z + g1 / df + g2 / df**2 + g3 / df**3 + g4 / df**4)


@dataclass(frozen=True)
class LinearFit:
    """``y = intercept + slope * x`` by least squares, with a two-sided CI of the slope."""

    slope: float
    intercept: float
    stderr: float
    ci_low: float
    ci_high: float
    confidence: float
    r2: float
    n: int

    def describe(self, unit: str = "") -> str:
        return (
            f"slope {self.slope:.4g}{unit} ({self.confidence:.0%} CI "
            f"{self.ci_low:.4g} .. {self.ci_high:.4g}{unit}), R^2={self.r2:.3f}, n={self.n}"
        )


def linear_fit(x: ArrayLike, y: ArrayLike, confidence: float = 0.95) -> LinearFit:
    """Ordinary least squares of ``y`` on ``x`` (at least three points)."""
    xs, ys = _arr(x), _arr(y)
    n = xs.size
    if n != ys.size or n < 3:
        raise ValueError(f"linear_fit needs >= 3 paired points; got {n} x and {ys.size} y")
    xm, ym = xs.mean(), ys.mean()
    sxx = float(((xs - xm) ** 2).sum())
    if sxx == 0.0:
        raise ValueError("linear_fit needs at least two distinct x values")
    slope = float(((xs - xm) * (ys - ym)).sum() / sxx)
    intercept = float(ym - slope * xm)
    resid = ys - (intercept + slope * xs)
    sse = float((resid**2).sum())
    sst = float(((ys - ym) ** 2).sum())
    stderr = math.sqrt(sse / (n - 2) / sxx)
    half = t_quantile(0.5 + confidence / 2, n - 2) * stderr
    r2 = 1.0 - sse / sst if sst > 0 else 1.0
    return LinearFit(slope, intercept, stderr, slope - half, slope + half, confidence, r2, n)


# -- cliffs ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrendBreak:
    """A scale where a figure is ``ratio`` times worse than its trend over smaller scales."""

    figure: str
    scale: int
    observed: float
    expected: float
    ratio: float

    def describe(self) -> str:
        return (
            f"{self.figure} breaks its trend at {self.scale:,}: {self.observed:.4g} "
            f"against {self.expected:.4g} expected ({self.ratio:.1f}x worse)"
        )


def find_trend_breaks(
    figure: str,
    scales: Sequence[int],
    values: Sequence[float],
    better: Better,
    *,
    threshold: float = 2.0,
    min_history: int = 2,
) -> list[TrendBreak]:
    """Scales where ``values`` break the power-law trend of the smaller scales.

    At each scale after the first ``min_history``, fit ``log(value)`` against
    ``log(scale)`` over the smaller scales, extrapolate, and flag the point when it is
    worse than the extrapolation by more than ``threshold`` times. The fitted exponent is
    clamped to [0, 1] for costs ([-1, 0] for rates): flat trends (per-item costs) and
    linear ones (whole-scan times) are both power laws, so one rule serves both, and a
    warm-up at the smallest scale cannot predict that costs will fall.

    >>> find_trend_breaks("put us", [1, 10, 100, 1000], [5.0, 5.2, 5.1, 30.0], "lower")[0].scale
    1000
    """
    out: list[TrendBreak] = []
    xs = np.log(np.asarray(scales, dtype=np.float64))
    vs = np.asarray(values, dtype=np.float64)
    for k in range(min_history, len(vs)):
        prev_x, prev_v = xs[:k], vs[:k]
        ok = np.isfinite(prev_v) & (prev_v > 0)
        if ok.sum() < min_history or not (np.isfinite(vs[k]) and vs[k] > 0):
            continue
        ly = np.log(prev_v[ok])
        px = prev_x[ok]
        if np.ptp(px) == 0:
            continue
        slope = float(np.polyfit(px, ly, 1)[0])
        slope = min(max(slope, 0.0), 1.0) if better == "lower" else max(min(slope, 0.0), -1.0)
        intercept = float(np.mean(ly - slope * px))
        expected = float(np.exp(intercept + slope * xs[k]))
        observed = float(vs[k])
        ratio = observed / expected if better == "lower" else expected / observed
        if ratio > threshold:
            out.append(TrendBreak(figure, int(scales[k]), observed, expected, ratio))
    return out
