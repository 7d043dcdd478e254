"""Print the planted-bug table (bug, caught, seconds, counterexample steps) after a run."""

from __future__ import annotations

import pytest


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    try:
        from test_planted_bugs_are_caught import RESULTS
    except ImportError:
        return
    if not RESULTS:
        return
    write = terminalreporter.write_line
    terminalreporter.section("planted bugs (ci profile)")
    write(f"{'bug':40} {'caught':7} {'seconds':>8} {'steps':>6}  failure")
    for name, caught, seconds, steps, summary in RESULTS:
        write(f"{name:40} {'yes' if caught else 'NO':7} {seconds:8.1f} {steps:6}  {summary}")
