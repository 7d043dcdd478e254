"""Run records: figures with their samples, saved as JSON, and the baseline to compare with.

A run is one JSON file ``<results>/runs/<run_id>.json`` holding the commit, date,
Python, machine, store under test, and every figure as a distribution (a sketch of at
most 1,000 samples plus exact percentiles). Tests write *parts* (one file per test, so
pytest-xdist workers never share a file); :func:`merge_parts` joins them into the run.

The baseline of a run is the run named in ``<results>/BASELINE`` if that file exists
(pin one with ``python -m warmtier.perf.report --pin RUN_ID``), else the latest earlier
run of the same store, dimension and machine.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import socket
import subprocess
import sys
import uuid
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from warmtier.perf.stats import Comparison, compare_samples, sketch, summarize

if TYPE_CHECKING:
    from warmtier.perf.result import ScenarioResult

__all__ = [
    "SCHEMA",
    "Better",
    "Figure",
    "PartWriter",
    "compare_runs",
    "git_commit",
    "load_runs",
    "machine_info",
    "merge_parts",
    "new_run_id",
    "pick_baseline",
    "python_info",
    "save_run",
    "scale_label",
]

SCHEMA = 1
Better = Literal["lower", "higher", "none"]


def scale_label(n: int) -> str:
    """``10_000 -> '10k'``, ``1_000_000 -> '1m'``."""
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}m"
    if n >= 1000 and n % 1000 == 0:
        return f"{n // 1000}k"
    return str(n)


@dataclass
class Figure:
    """One measured quantity at one scale, as a distribution."""

    name: str
    unit: str
    better: Better
    scale: int
    samples: list[float]
    summary: dict[str, float] = field(default_factory=dict)
    scenario: str = ""

    @property
    def key(self) -> str:
        return f"{self.name}@{scale_label(self.scale)}"

    @classmethod
    def of(
        cls,
        name: str,
        values: Any,
        *,
        unit: str,
        better: Better,
        scale: int,
        scenario: str = "",
    ) -> Figure:
        """Summarize the full samples exactly, keep a sketch of them."""
        return cls(name, unit, better, scale, sketch(values), summarize(values), scenario)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Figure:
        return cls(
            name=data["name"],
            unit=data["unit"],
            better=data["better"],
            scale=int(data["scale"]),
            samples=list(data["samples"]),
            summary=dict(data.get("summary", {})),
            scenario=data.get("scenario", ""),
        )


def new_run_id() -> str:
    now = _dt.datetime.now(_dt.UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"


def git_commit(cwd: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """``{"commit": sha or "unknown", "dirty": bool}`` of the checkout (read-only git)."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return {"commit": sha, "dirty": bool(status.strip())}
    except (OSError, subprocess.CalledProcessError):
        return {"commit": "unknown", "dirty": False}


def machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
    }
    if hasattr(os, "getloadavg"):  # noisy neighbours show here
        info["loadavg"] = [round(x, 2) for x in os.getloadavg()]
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        import psutil

        info["memory_bytes"] = int(psutil.virtual_memory().total)
    except ImportError:
        pass
    return info


def python_info() -> dict[str, str]:
    import numpy

    return {
        "version": platform.python_version(),
        "implementation": platform.python_implementation(),
        "executable": sys.executable,
        "numpy": numpy.__version__,
    }


# -- parts -------------------------------------------------------------------------------


class PartWriter:
    """What one test measured: figures, free-form extras for the plots, notes."""

    def __init__(self, parts_dir: Path, test_id: str, prefix: str = "") -> None:
        self.parts_dir = parts_dir
        self.test_id = test_id
        self.prefix = prefix  # e.g. "smoke.": keeps a variant's figures apart
        self.figures: list[Figure] = []
        self.extra: dict[str, Any] = {}
        self.notes: list[str] = []
        self.outcome = "unknown"

    def figure(
        self,
        name: str,
        values: Any,
        *,
        unit: str,
        better: Better,
        scale: int,
        scenario: str = "",
    ) -> Figure:
        fig = Figure.of(self.prefix + name, values, unit=unit, better=better, scale=scale,
                        scenario=scenario)
        self.figures.append(fig)
        return fig

    def note(self, text: str) -> None:
        self.notes.append(text)

    def record(self, result: ScenarioResult) -> ScenarioResult:
        """Keep a scenario's figures, plot data and notes in this part; return it."""
        self.figures += [replace(f, name=self.prefix + f.name) for f in result.figures.values()]
        self.extra.update(result.plots)
        self.notes += result.notes
        return result

    def save(self) -> Path | None:
        if not (self.figures or self.extra or self.notes):
            return None
        self.parts_dir.mkdir(parents=True, exist_ok=True)
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in self.test_id)
        path = self.parts_dir / f"{safe[-150:]}.json"
        payload = {
            "test": self.test_id,
            "outcome": self.outcome,
            "figures": [asdict(f) for f in self.figures],
            "extra": {self.prefix + k: v for k, v in self.extra.items()},
            "notes": [self.prefix + n for n in self.notes],
        }
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(payload, allow_nan=True))
        os.replace(tmp, path)
        return path


def merge_parts(parts_dir: Path) -> dict[str, Any]:
    """``{"figures": {key: figure dict}, "extra": {...}, "notes": [...], "tests": [...],
    "outcomes": {test: "passed" | "failed" | ...}}``."""
    figures: dict[str, Any] = {}
    outcomes: dict[str, str] = {}
    extra: dict[str, Any] = {}
    notes: list[str] = []
    tests: list[str] = []
    if parts_dir.is_dir():
        for path in sorted(parts_dir.glob("*.json")):
            data = json.loads(path.read_text())
            tests.append(data["test"])
            outcomes[data["test"]] = data.get("outcome", "unknown")
            for fig in data["figures"]:
                figures[Figure.from_json(fig).key] = fig
            extra.update(data["extra"])
            notes.extend(data["notes"])
    return {"figures": figures, "extra": extra, "notes": notes, "tests": tests,
            "outcomes": outcomes}


# -- runs --------------------------------------------------------------------------------


def save_run(results_dir: Path, record: dict[str, Any]) -> Path:
    runs = results_dir / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    path = runs / f"{record['run_id']}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=1, allow_nan=True))
    os.replace(tmp, path)
    return path


def load_runs(results_dir: Path) -> list[dict[str, Any]]:
    """Every stored run, oldest first; unreadable files are skipped."""
    out = []
    for path in sorted((results_dir / "runs").glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if data.get("schema") == SCHEMA:
            out.append(data)
    out.sort(key=lambda r: r.get("date", ""))
    return out


def _comparable(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return (
        a.get("store") == b.get("store")
        and a.get("options", {}).get("dim") == b.get("options", {}).get("dim")
        and a.get("machine", {}).get("hostname") == b.get("machine", {}).get("hostname")
    )


def pick_baseline(
    results_dir: Path, current: dict[str, Any], runs: list[dict[str, Any]]
) -> dict[str, Any] | None:
    """The pinned baseline, else the latest earlier comparable run, else None."""
    pin = results_dir / "BASELINE"
    if pin.is_file():
        wanted = pin.read_text().strip()
        for run in runs:
            if run["run_id"] == wanted and run["run_id"] != current["run_id"]:
                return run
    earlier = [
        r
        for r in runs
        if r["run_id"] != current["run_id"]
        and r.get("date", "") < current.get("date", "")
        and _comparable(r, current)
    ]
    return earlier[-1] if earlier else None


def compare_runs(baseline: dict[str, Any], current: dict[str, Any]) -> list[Comparison]:
    """One comparison per figure present in both runs (figures with a direction only)."""
    out = []
    for key, fig in current["figures"].items():
        old = baseline["figures"].get(key)
        if old is None or fig["better"] == "none":
            continue
        out.append(compare_samples(key, old["samples"], fig["samples"], fig["better"]))
    return out
