"""The expected-state oracle: an append-only log of operation starts and completions.

The child writes ``S i`` before operation ``i`` and ``D i`` after it returned, each with
one ``write(2)`` on an ``O_APPEND`` descriptor. Once ``write`` returns the bytes belong
to the kernel, so they survive ``kill -9`` of the writer (pass ``fsync=True`` to make
them survive a power cut too). The parent reads the log back to learn which operations
completed and which one was in flight.

>>> import tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "oracle")
>>> with OracleWriter(path) as log:
...     log.ready(); log.start(0); log.done(0); log.start(1)
>>> read_oracle(path)
Progress(ready=True, completed=1, in_flight=1, error=None, ended=False)
"""

from __future__ import annotations

import os
from dataclasses import dataclass

__all__ = ["OracleWriter", "Progress", "read_oracle"]


class OracleWriter:
    """Appends progress lines; every line is one ``write`` (atomic for a pipe-sized line)."""

    def __init__(self, path: str | os.PathLike[str], *, fsync: bool = False) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._fsync = fsync

    def _line(self, text: str) -> None:
        os.write(self._fd, (text + "\n").encode("utf-8", "backslashreplace"))
        if self._fsync:
            os.fsync(self._fd)

    def ready(self) -> None:
        """The store is open; operations follow."""
        self._line("R")

    def start(self, index: int) -> None:
        self._line(f"S {index}")

    def done(self, index: int) -> None:
        self._line(f"D {index}")

    def end(self) -> None:
        """The workload ran to its end without being killed at its kill point."""
        self._line("E")

    def error(self, message: str) -> None:
        """The workload raised: the store broke a promise without any crash."""
        self._line("X " + message.replace("\\", "\\\\").replace("\n", "\\n"))

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> OracleWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class Progress:
    """What the log says: ``completed`` operations ``0 .. completed-1`` returned;
    ``in_flight`` is the number of the one started but not finished, if any."""

    ready: bool
    completed: int
    in_flight: int | None
    error: str | None
    ended: bool = False

    @property
    def started(self) -> int:
        """How many operations may have had an effect (the completed plus the in-flight)."""
        return self.completed + (self.in_flight is not None)


def read_oracle(path: str | os.PathLike[str]) -> Progress:
    """Parse a log; a torn last line (impossible with one ``write`` per line) is ignored."""
    try:
        with open(path, "rb") as f:
            raw = f.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return Progress(False, 0, None, None)
    ready = False
    completed = 0
    started: int | None = None
    error: str | None = None
    ended = False
    for line in raw.split("\n"):
        if line == "R":
            ready = True
        elif line.startswith("S "):
            started = int(line[2:])
        elif line.startswith("D "):
            completed = int(line[2:]) + 1
            started = None
        elif line == "E":
            ended = True
        elif line.startswith("X "):
            error = line[2:].replace("\\n", "\n").replace("\\\\", "\\")
    in_flight = started if started is not None and started >= completed else None
    return Progress(ready, completed, in_flight, error, ended)
