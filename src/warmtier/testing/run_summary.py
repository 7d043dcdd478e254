"""The pytest plugin that ends every run with what it exercised, in one block of at most
25 lines: examples and steps, rules fired and never fired, store figures, schedules,
crash rounds and images, the rarest events (docs/properties.md, "What a run exercised").

In the process that runs a test (an xdist worker, or the only one): Hypothesis' statistics
of each run, taken from ``hypothesis.statistics.collector`` (the machinery behind
``--hypothesis-show-statistics``, computed anyway, so free; observability would
pretty-print every step and trace coverage, a fifth more time on the store machine), and
what harnesses counted with :mod:`warmtier.testing.exercised`, go onto the test's teardown
report. The controller adds the reports up, with the ``crash: NAME`` and ``schedules``
properties tests record, and prints the block after pytest's own summary. Other plugins
add lines with :func:`add_note`.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping
from typing import Any, cast

import pytest

from warmtier.testing import exercised
from warmtier.testing.exercised import Tally

__all__ = ["REPORT_KEY", "add_note", "tally_of"]

#: The attribute of a teardown report that carries the test's tally (JSON-able).
REPORT_KEY = "_warmtier_exercised"
TITLE = "warmtier: what this run exercised"

_ran_hypothesis = pytest.StashKey[bool]()


def _collector() -> Any:
    try:
        from hypothesis.statistics import collector
    except ImportError:  # a Hypothesis without it: the summary has no Hypothesis lines
        return None
    return collector


@pytest.hookimpl(hookwrapper=True, trylast=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, Any, None]:
    """Inside Hypothesis' own wrapper: count every run's statistics, then hand them on."""
    collector = _collector()
    exercised.take_machine()  # a machine named by an earlier test is not this test's
    if collector is None:
        yield
        return
    previous = cast("Callable[[Any], None] | None", collector.value)

    def note(stats: Mapping[str, Any]) -> None:
        try:
            exercised.add_statistics(stats)
            item.stash[_ran_hypothesis] = True
        finally:
            if previous is not None:
                previous(stats)

    with collector.with_value(note):
        yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if report.when != "teardown":
        return
    tally = exercised.take()
    if item.stash.get(_ran_hypothesis, False):
        tally.add("hypothesis: tests")
    if tally:
        report.__dict__[REPORT_KEY] = tally.to_json()


class _Totals:
    """The controller's sum over every report, and the notes other plugins add."""

    def __init__(self) -> None:
        self.tally = Tally()
        self.notes: list[str] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        data = report.__dict__.get(REPORT_KEY)
        if isinstance(data, Mapping):
            self.tally.merge(data)
        if report.when != "call":
            return
        for key, value in report.user_properties:
            if isinstance(key, str) and (key.startswith("crash: ") or key == "schedules"):
                try:
                    self.tally.add(key, float(str(value)))
                except ValueError:
                    continue

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_terminal_summary(
        self, terminalreporter: pytest.TerminalReporter
    ) -> Generator[None, None, None]:
        """After every other summary, pytest's short test summary included."""
        try:
            return (yield)
        finally:
            self.write(terminalreporter)

    def write(self, tr: pytest.TerminalReporter) -> None:
        if not self.tally and not self.notes:
            return
        width = min(120, getattr(getattr(tr, "_tw", None), "fullwidth", 100))
        lines = exercised.render(self.tally, width=width, notes=self.notes)
        tr.write_sep("=", lines[0])
        for line in lines[1:]:
            tr.write_line(line)


_totals_key = pytest.StashKey[_Totals]()


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        return  # workers send their tallies on the reports
    totals = _Totals()
    config.stash[_totals_key] = totals
    config.pluginmanager.register(totals, "warmtier-run-summary")


def tally_of(config: pytest.Config) -> Tally | None:
    """The run's tally so far (on the controller; None in an xdist worker)."""
    totals = config.stash.get(_totals_key, None)
    return totals.tally if totals is not None else None


def add_note(config: pytest.Config, line: str) -> None:
    """Add one line to the summary (a seed to repeat the run with, a scale figure)."""
    totals = config.stash.get(_totals_key, None)
    if totals is not None:
        totals.notes.append(line)
