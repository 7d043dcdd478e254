"""pytest plugin of the scale suite: ``--scale``, results and reports, fixtures, summary.

Options: ``--scale=10k|100k|1m`` (the largest scale to run; tests marked
``@pytest.mark.scale(n)`` above it are skipped), ``--scale-dim``, ``--scale-results=DIR``
(append a JSON run record there and compare it with the baseline),
``--scale-reports=DIR`` (write Markdown + PNG reports there), ``--scale-fail-on-regression``.
Every test that uses the ``perf`` fixture writes one part file; the controlling process
(also under pytest-xdist) joins the parts when the session ends, prints a summary table,
and writes the record and report. Runs given the same ``WARMTIER_RUN_ID`` (the nox
session's parallel and serial halves) build one record.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from warmtier.perf.history import PartWriter, new_run_id, scale_label
from warmtier.perf.progress import Progress
from warmtier.perf.report import RunOutcome, build_record, finalize_run

SCALES = {"10k": 10_000, "100k": 100_000, "1m": 1_000_000}
RUN_ENV = "WARMTIER_RUN_ID"

_outcome_key = pytest.StashKey[RunOutcome | None]()
_parts_key = pytest.StashKey[Path]()
_owns_parts_key = pytest.StashKey[bool]()
_run_key = pytest.StashKey[str]()

__all__ = ["SCALES", "scale_max"]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("warmtier-scale", "warmtier scale suite")
    group.addoption(
        "--scale",
        dest="scale",
        choices=sorted(SCALES, key=SCALES.__getitem__),
        default=os.environ.get("WARMTIER_SCALE", "100k"),
        help="largest scale to run: 10k, 100k (default) or 1m",
    )
    group.addoption(
        "--scale-dim",
        dest="scale_dim",
        type=int,
        default=int(os.environ.get("WARMTIER_SCALE_DIM", "768")),
        help="embedding dimension of the timed scale scenarios (default 768)",
    )
    group.addoption(
        "--scale-results",
        dest="scale_results",
        default=os.environ.get("WARMTIER_RESULTS_DIR"),
        metavar="DIR",
        help="append this run's JSON record under DIR/runs and compare with the baseline",
    )
    group.addoption(
        "--scale-reports",
        dest="scale_reports",
        default=os.environ.get("WARMTIER_REPORTS_DIR"),
        metavar="DIR",
        help="write the run's Markdown + PNG report under DIR/<run id>",
    )
    group.addoption(
        "--scale-fail-on-regression",
        dest="scale_fail_on_regression",
        action="store_true",
        help="exit non-zero when a figure regressed against the baseline",
    )
    group.addoption(
        "--no-scale-progress",
        dest="scale_progress",
        action="store_false",
        default=True,
        help="no progress bars",
    )


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _abs(value: str | None) -> Path | None:
    return Path(value).resolve() if value else None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "scale(n): needs --scale of at least n records; skipped below it"
    )
    config.addinivalue_line(
        "markers", "timing: measures wall-clock time; run serially, never under xdist"
    )
    if _is_worker(config):
        # The controller hands its run over (see pytest_configure_node); nothing is read
        # from the environment, so pytest runs started by tests never join this run.
        workerinput: dict[str, Any] = config.workerinput  # type: ignore[attr-defined]
        config.stash[_run_key] = str(workerinput["warmtier_run_id"])
        config.stash[_parts_key] = Path(workerinput["warmtier_scale_parts"])
        return
    run_id = os.environ.get(RUN_ENV) or new_run_id()
    results = _abs(config.getoption("scale_results"))
    if results is not None:
        parts = results / "parts" / run_id
        owns = False
    else:
        parts = Path(tempfile.gettempdir()) / f"warmtier-scale-parts-{run_id}"
        owns = True
    config.stash[_run_key] = run_id
    config.stash[_parts_key] = parts
    config.stash[_owns_parts_key] = owns


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """pytest-xdist: every worker writes its parts into the controller's run."""
    config = node.config
    node.workerinput["warmtier_run_id"] = config.stash[_run_key]
    node.workerinput["warmtier_scale_parts"] = str(config.stash[_parts_key])


def scale_max(config: pytest.Config) -> int:
    return SCALES[str(config.getoption("scale"))]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    limit = scale_max(config)
    for item in items:
        marker = item.get_closest_marker("scale")
        if marker is None:
            continue
        need = int(marker.args[0])
        if need > limit:
            label = next((k for k, v in SCALES.items() if v >= need), "1m")
            item.add_marker(
                pytest.mark.skip(
                    reason=f"needs --scale={label} ({need:,} records); "
                    f"this run has --scale={config.getoption('scale')}"
                )
            )


# -- fixtures ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def scale_limit(pytestconfig: pytest.Config) -> int:
    """The largest number of records this run may build (``--scale``)."""
    return scale_max(pytestconfig)


@pytest.fixture(scope="session")
def scale_dim(pytestconfig: pytest.Config) -> int:
    """Embedding dimension of the timed scenarios (``--scale-dim``)."""
    return int(pytestconfig.getoption("scale_dim"))


_call_report_key = pytest.StashKey[pytest.TestReport]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call" or (report.when == "setup" and not report.passed):
        item.stash[_call_report_key] = report
    return report


@pytest.fixture
def perf(request: pytest.FixtureRequest) -> Iterator[PartWriter]:
    """Keep a scenario's :class:`~warmtier.perf.result.ScenarioResult`
    (``perf.record(result)``: figures, plot data, notes); saved as this test's part of
    the run record when the test ends, with its outcome."""
    writer = PartWriter(request.config.stash[_parts_key], request.node.nodeid)
    yield writer
    report = request.node.stash.get(_call_report_key, None)
    if report is not None:
        writer.outcome = report.outcome
    writer.save()


@pytest.fixture
def progress(request: pytest.FixtureRequest) -> Iterator[Progress]:
    """Progress bars with ETA on the real terminal (silent under xdist or when disabled)."""
    config = request.config
    capman = config.pluginmanager.getplugin("capturemanager")
    enabled = bool(config.getoption("scale_progress")) and not _is_worker(config)
    suspend = capman.global_and_fixture_disabled if capman is not None else None
    with Progress(enabled=enabled, suspend=suspend) as bars:
        yield bars


@pytest.fixture
def scale_tmp() -> Iterator[Path]:
    """A scratch directory deleted when the test ends (stores of gigabytes must not
    linger in pytest's kept tmp_path directories)."""
    path = Path(tempfile.mkdtemp(prefix="warmtier-scale-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# -- end of session ----------------------------------------------------------------------


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if _is_worker(config):
        return
    parts = config.stash[_parts_key]
    config.stash[_outcome_key] = None
    if not parts.is_dir() or not any(parts.glob("*.json")):
        return
    options = {
        "scale": config.getoption("scale"),
        "dim": config.getoption("scale_dim"),
    }
    from warmtier.testing.plugin import store_spec

    record = build_record(config.stash[_run_key], parts, store_spec(config), options)
    outcome = finalize_run(
        record, _abs(config.getoption("scale_results")), _abs(config.getoption("scale_reports"))
    )
    config.stash[_outcome_key] = outcome
    if config.stash.get(_owns_parts_key, False):
        shutil.rmtree(parts, ignore_errors=True)
    if outcome.regressions and config.getoption("scale_fail_on_regression"):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _summary_rows(record: dict[str, Any]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for f in sorted(record["figures"].values(), key=lambda f: (f["name"], f["scale"])):
        s = f["summary"]
        rows.append(
            (
                f["name"],
                scale_label(f["scale"]),
                f["unit"],
                f"{int(s.get('n', 0))}",
                f"{s.get('p50', float('nan')):.4g}",
                f"{s.get('p99', float('nan')):.4g}",
                f"{s.get('max', float('nan')):.4g}",
            )
        )
    return rows


def _note_scales(config: pytest.Config, record: dict[str, Any]) -> None:
    """One line of the run summary (:mod:`warmtier.testing.run_summary`): the figures
    measured, at which scales, and the largest store built."""
    from warmtier.testing.run_summary import add_note

    scales = sorted({int(f["scale"]) for f in record["figures"].values()})
    if not scales:
        return
    at = ", ".join(scale_label(s) for s in scales)
    add_note(config, f"scale        {len(record['figures'])} figures at {at}; largest store "
                     f"{scales[-1]:,} records")


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if _is_worker(config):
        return
    outcome = config.stash.get(_outcome_key, None)
    if outcome is None:
        return
    tr = terminalreporter
    _note_scales(config, outcome.record)
    tr.section("warmtier scale summary")
    header = ("figure", "scale", "unit", "n", "median", "p99", "max")
    rows = _summary_rows(outcome.record)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    tr.write_line("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    for row in rows:
        tr.write_line("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
    for note in outcome.record.get("notes", []):
        tr.write_line(f"note: {note}")
    if outcome.baseline_id:
        tr.write_line(
            f"against baseline {outcome.baseline_id}: {len(outcome.regressions)} regression(s)"
        )
        for c in outcome.regressions:
            tr.write_line(f"  REGRESSION {c.describe()}", red=True)
    if outcome.run_path:
        tr.write_line(f"run record: {outcome.run_path}")
    if outcome.report_path:
        tr.write_line(f"report: {outcome.report_path}")

