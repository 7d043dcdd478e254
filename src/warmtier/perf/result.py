"""What every scale scenario returns: one :class:`ScenarioResult`.

Its figures are named measurements with units (the run record's figures), its plots
and notes go to the report, its problems are what the test asserts are absent.

>>> r = ScenarioResult("demo", scale=10)
>>> r.figure("demo.put_us", [1.0, 2.0], unit="us", better="lower").key
'demo.put_us@10'
>>> list(r.figures), r.ok
(['demo.put_us@10'], True)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from warmtier.perf.history import Better, Figure

__all__ = ["ScenarioResult"]


@dataclass
class ScenarioResult:
    """One run of one scale scenario.

    ``figures`` maps ``name@scale`` to a :class:`~warmtier.perf.history.Figure` (samples,
    unit, which direction is better); ``plots`` is the free-form data the report draws,
    keyed as in the run record's ``extra``; ``notes`` are findings that are reported, not
    failed; ``problems`` are behaviour the store got wrong (empty when it behaved).
    A test hands the result to ``perf.record(result)`` to keep it in the run record.
    """

    name: str
    scale: int
    figures: dict[str, Figure] = field(default_factory=dict)
    plots: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def figure(self, name: str, values: Any, *, unit: str, better: Better,
               scale: int | None = None, scenario: str = "") -> Figure:
        """Measure ``values`` as figure ``name`` (at this result's scale unless given)."""
        fig = Figure.of(name, values, unit=unit, better=better,
                        scale=self.scale if scale is None else scale, scenario=scenario)
        self.figures[fig.key] = fig
        return fig

    def note(self, text: str) -> None:
        self.notes.append(text)

    @property
    def ok(self) -> bool:
        return not self.problems

    def describe_problems(self, expected: str) -> str:
        """The assertion message of a test: what it expected, then every problem."""
        return f"expected {expected}; got:\n" + "\n".join(self.problems)
