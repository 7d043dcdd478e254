"""Progress bars with an ETA for long phases: rich bars on a terminal, a plain line per
10% (with ETA) in logs, silence when disabled.

>>> with Progress(enabled=False) as progress:
...     task = progress.phase("put 10", total=10)
...     task.advance(10)
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, TextIO

__all__ = ["Phase", "Progress"]


class Phase:
    """One bar: call :meth:`advance` as work completes."""

    def __init__(self, advance: Callable[[int], None]) -> None:
        self._advance = advance

    def advance(self, n: int = 1) -> None:
        self._advance(n)


class _LogLines:
    """Plain progress for non-terminals (CI logs): a line at every 10% with the ETA."""

    def __init__(self, description: str, total: int, write: Callable[[str], None]) -> None:
        self.description = description
        self.total = max(total, 1)
        self.done = 0
        self.start = time.monotonic()
        self.next_mark = 0.1
        self.write = write

    def advance(self, n: int) -> None:
        self.done += n
        share = self.done / self.total
        if share + 1e-9 < self.next_mark:
            return
        while self.next_mark <= share + 1e-9:
            self.next_mark += 0.1
        elapsed = time.monotonic() - self.start
        eta = elapsed / share * (1 - share) if share > 0 else 0.0
        self.write(
            f"[progress] {self.description}: {self.done:,}/{self.total:,} ({share:.0%}), "
            f"{elapsed:.1f} s elapsed, ETA {eta:.1f} s"
        )


class Progress:
    """A group of phase bars with elapsed time and ETA, drawn on the real stderr.

    ``suspend`` is a context manager factory that lifts output capture while bars are
    drawn (the pytest plugin passes the capture manager's); with ``enabled=False`` every
    call is a no-op. Without rich, or when stderr is not a terminal, phases log a plain
    line per 10%.
    """

    def __init__(
        self,
        enabled: bool = True,
        suspend: Callable[[], contextlib.AbstractContextManager[Any]] | None = None,
        stream: TextIO | None = None,
    ) -> None:
        self._suspend = suspend or contextlib.nullcontext
        self._rich: Any = None
        self._stack = contextlib.ExitStack()
        self._enabled = enabled
        self._stream: TextIO = stream or sys.__stderr__ or sys.stderr
        if not enabled or not self._stream.isatty():
            return
        try:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )
            from rich.progress import Progress as RichProgress
        except ImportError:
            return
        self._rich = RichProgress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=Console(file=self._stream),
            transient=False,
        )

    def __enter__(self) -> Progress:
        if self._rich is not None:
            self._stack.enter_context(self._suspend())
            self._stack.enter_context(self._rich)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stack.close()

    def _write_line(self, line: str) -> None:
        with self._suspend():
            self._stream.write(line + "\n")
            self._stream.flush()

    def phase(self, description: str, total: int) -> Phase:
        """A new bar of ``total`` steps."""
        if not self._enabled:
            return Phase(lambda n: None)
        if self._rich is None:
            lines = _LogLines(description, total, self._write_line)
            return Phase(lines.advance)
        task_id = self._rich.add_task(description, total=total)
        rich = self._rich
        return Phase(lambda n: rich.advance(task_id, n))
