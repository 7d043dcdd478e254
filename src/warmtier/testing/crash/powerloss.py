"""Simulated power loss: the seeded workload runs once in a traced child (``trace``); at each
crash point the disk images a power cut could leave (``images``) are opened and checked.

What is durable is what the trace shows was synced, by any code of the store's process
(``fsync``, ``fdatasync``, ``msync``, ``sync_file_range``, ``syncfs``, ``sync``). Crash
points, taken while the child is stopped: before each sync reaches the kernel and after it
returns, before each namespace change, and after each completed operation (the workload
writes ``S i`` / ``D i`` to a marks file outside the store, which the tracer sees). Each
point's images are opened in an isolated child (``isolate``) and judged by the contract:
every id holds its value as of the last completed ``flush()``/``compact()`` or a later
one (a batch's records count as that loop of puts or removes); a store that syncs more is
simply more durable, which its images show. A failure
names the crash point, the last sync of each file, the image's choice of pages and names,
and the replay command (``SEED:pl:N:OPS``: the traced run again, checking point N alone).
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from warmtier.testing.contract import close_quietly, snapshot
from warmtier.testing.crash.checks import power_loss_problems, run_check
from warmtier.testing.crash.images import Disk, Image
from warmtier.testing.crash.isolate import Isolated, worker_or
from warmtier.testing.crash.kills import keep_working, replay_command
from warmtier.testing.crash.points import KillPoint
from warmtier.testing.crash.trace import NAMESPACE, Event, Mark, Open, Sync, Trace, Write, trace
from warmtier.testing.crash.trace.ledger import WEAK_SYNCS, Folder, Ledger
from warmtier.testing.crash.trace.proc import Pages, Watch, read_tree
from warmtier.testing.crash.workload import Timeline, apply, batch_kinds, make_store, operations

__all__ = [
    "PAGE",
    "SECTOR",
    "CrashPoint",
    "PowerLossResult",
    "PowerLossRun",
    "image_problems",
]

#: The default unit of atomicity (a page); ``SECTOR`` is the harsher mode.
PAGE, SECTOR = 4096, 512


@dataclass(frozen=True)
class CrashPoint:
    """One place a power cut is simulated: the call it is at (before it reaches the kernel,
    or once it ``returned``), and how far the workload had come."""

    number: int
    event: Event
    returned: bool
    completed: int
    started: int

    def where(self, ops: list[Any]) -> str:
        e = self.event
        if isinstance(e, Mark):
            at = f"after operation {ops[self.completed - 1].describe()}"
        else:
            target = getattr(e, "path", None)
            at = f"{'after' if self.returned else 'before'} {e.syscall}({target}) (seq {e.seq})"
        flight = (f"in flight: {ops[self.completed].describe()}" if self.started > self.completed
                  else "nothing in flight")
        return f"{at}; {self.completed} operation(s) completed, {flight}"


@dataclass
class PowerLossResult:
    """Totals of a run and the failures found (one report per failing crash point)."""

    seed: int
    crash_points: int = 0
    images: int = 0
    distinct_images: int = 0
    failures: list[str] = field(default_factory=list)
    traced_calls: int = 0
    seconds: float = 0.0
    first_failure: float | None = None  # seconds from the start to the first failure

    @property
    def images_per_second(self) -> float:
        return self.images / self.seconds if self.seconds else 0.0


def _digest(ledger: Ledger, disk: Disk, completed: int, started: int) -> str:
    """Equal for two crash points with the same possible disks and the same oracle."""
    h = hashlib.blake2b(digest_size=16)
    for inode, f in sorted(ledger.files.items()):
        h.update(f"{inode}\0{f.path}\0{f.durable_size}\0{f.sizes}\0".encode())
        h.update(hashlib.blake2b(f.durable, digest_size=16).digest())
        h.update(hashlib.blake2b(f.current, digest_size=16).digest())
    h.update(repr((sorted(disk.base.items()), [e.seq for e in disk.pending])).encode())
    return f"{h.hexdigest()}/{completed}/{started}"


def _image_key(image: Image, completed: int, started: int) -> str:
    h = hashlib.blake2b(digest_size=16)
    for name in sorted(image.files):
        h.update(name.encode() + b"\0" + len(image.files[name]).to_bytes(8, "little"))
        h.update(image.files[name])
    return f"{h.hexdigest()}/{completed}/{started}"


class PowerLossRun:
    """Run the workload of ``seed`` traced, against a fresh store in ``workdir``, and check
    ``random_images`` random images of each crash point plus the adversarial ones.
    ``only`` checks crash point ``only`` alone (a replay); ``unit`` is the unit of
    atomicity (``PAGE`` or ``SECTOR``); ``strict`` counts only the fsync family as syncs."""

    def __init__(self, store_class: type[Any], store_spec: str, workdir: str | os.PathLike[str],
                 seed: int, *, ops: int = 40, random_images: int = 4, only: int | None = None,
                 keep_working_every: int = 25, max_failures: int = 3, unit: int = PAGE,
                 strict: bool = False) -> None:
        self.store_class = store_class
        self.store_spec = store_spec
        self.workdir = os.fspath(workdir)
        self.seed = seed
        self.ops = list(operations(seed, ops, batch_kinds(store_class)))
        self.timeline = Timeline(self.ops)
        self.random_images = random_images
        self.only = only
        self.keep_working_every = keep_working_every
        self.max_failures = max_failures
        self.unit = unit
        self.strict = strict
        self.result = PowerLossResult(seed)
        self._seen_points: set[str] = set()
        self._seen_images: dict[str, list[str]] = {}
        self._number = self._completed = self._started = 0
        self._ready = self._stop = False
        self._started_at = 0.0
        self._worker: Isolated | None = None

    def run(self, worker: Isolated | None = None) -> PowerLossResult:
        """Run the workload; every image is opened in ``worker`` (an isolated child; by
        default one of the run's own)."""
        with worker_or(worker) as child:
            self._worker = child
            try:
                return self._run()
            finally:
                self._worker = None

    def _run(self) -> PowerLossResult:
        where = tempfile.mkdtemp(prefix=f"pl-{self.seed}-", dir=self.workdir)
        path, marks = os.path.join(where, "store"), os.path.join(where, "marks")
        os.mkdir(path)
        self._watch, self._pages = Watch(path), Pages(self.unit)
        self._folder = Folder(read_tree(self._watch, self._pages), self.unit, strict=self.strict)
        self._started_at = time.perf_counter()
        try:
            traced = trace(lambda: self._workload(path, marks), path,
                           stop_at=lambda _: self._stop, page=self.unit, observe=self._observe,
                           marks=marks, timeout=3600.0)
        finally:
            shutil.rmtree(where, ignore_errors=True)
        self.result.seconds = time.perf_counter() - self._started_at
        self.result.traced_calls = len(traced.events)
        if not self._stop:
            self.result.failures.append(self._died(traced))
        return self.result

    def _workload(self, path: str, marks: str) -> None:  # pragma: no cover - traced child
        """The traced child: create the store, then each operation between two marks."""
        fd = os.open(marks, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        store = make_store(self.store_class, path)
        os.write(fd, b"ready")
        for op in self.ops:
            os.write(fd, f"S {op.index}".encode())
            apply(store, op)
            os.write(fd, f"D {op.index}".encode())
        os.write(fd, b"end")

    def _died(self, traced: Trace) -> str:
        how = ("timed out" if traced.timed_out else
               f"ended with status {traced.exit_status} (minus a signal number)")
        return (f"power-loss run of store {self.store_spec}, seed {self.seed}: the traced "
                f"workload {how} after {self._completed} operation(s), before its end "
                "(its stderr is above)\n"
                f"replay: {self._replay(1)}")

    # -- crash points, seen while the child is stopped ------------------------------------

    def _observe(self, event: Event, returned: bool) -> None:
        if isinstance(event, Mark):
            if not returned:
                self._marked(event)
            return
        if returned:
            self._folder.fold(event)
        if self._ready and self._is_point(event, returned):
            self._crash_point(event, returned)

    def _marked(self, mark: Mark) -> None:
        word, _, number = mark.label.partition(" ")
        if word == "ready":
            self._ready = True
        elif word == "S":
            self._started = int(number) + 1
        elif word == "D":
            self._completed = int(number) + 1
            self._crash_point(mark, True)
        elif word == "end":
            self._stop = True

    def _is_point(self, event: Event, returned: bool) -> bool:
        if isinstance(event, Sync):
            counts = not (self.strict and event.syscall in WEAK_SYNCS)
            return counts and bool(event.files or event.dirs) and (event.ok or not returned)
        if isinstance(event, Write) and event.dsync:  # a write that is its own fdatasync
            return not returned or event.image is not None
        if returned or not isinstance(event, NAMESPACE):
            return False
        return not isinstance(event, Open) or not os.path.lexists(self._watch.abs(event.path))

    def _crash_point(self, event: Event, returned: bool) -> None:
        self._number += 1
        if self._stop or (self.only is not None and self._number != self.only):
            return
        point = CrashPoint(self._number, event, returned, self._completed, self._started)
        ledger = self._folder.snapshot(read_tree(self._watch, self._pages))
        disk = Disk(ledger)
        key = _digest(ledger, disk, point.completed, point.started)
        if key in self._seen_points and self.only is None:
            return
        self._seen_points.add(key)
        self.result.crash_points += 1
        failure = self._check_point(point, disk)
        if failure:
            self.result.failures.append(failure)
            if self.result.first_failure is None:
                self.result.first_failure = time.perf_counter() - self._started_at
        self._stop = len(self.result.failures) >= self.max_failures or self.only is not None

    def _check_point(self, point: CrashPoint, disk: Disk) -> str | None:
        rng = np.random.default_rng([self.seed, point.number])
        for image in disk.images(rng, self.random_images):
            self.result.images += 1
            key = _image_key(image, point.completed, point.started)
            if key in self._seen_images:
                problems = self._seen_images[key]
            else:
                self.result.distinct_images += 1
                deep = int(key[:8], 16) % self.keep_working_every == 0  # same on a replay
                problems = self._check_image(image.files, point.completed, point.started, deep)
                self._seen_images[key] = problems
            if problems:
                return self._report(point, disk, image, problems)
        return None

    def _report(self, point: CrashPoint, disk: Disk, image: Image, problems: list[str]) -> str:
        sizes = ", ".join(f"{n} {len(d)} B" for n, d in sorted(image.files.items()))
        return "\n".join([
            f"power-loss image failed for store {self.store_spec}: seed {self.seed}, crash "
            f"point pl:{point.number} ({point.where(self.ops)}; last durability point after "
            f"{self.timeline.last_durable(point.completed)} operations)",
            f"  image {image.label!r} ({sizes or 'no files'}):",
            *[f"    {note}" for note in image.notes],
            "  last observed syncs:",
            *[f"    {line}" for line in disk.syncs()],
            "  problems:",
            *[f"    {p}" for p in problems],
            f"replay: {self._replay(point.number)}",
        ])

    def _replay(self, number: int) -> str:
        """The command that checks crash point ``number`` of this very workload alone."""
        point = KillPoint("pl", number=number, ops=len(self.ops))
        return replay_command(self.seed, point, self.store_spec)

    def _check_image(self, image: dict[str, bytes], completed: int, started: int,
                     deep: bool) -> list[str]:
        """Open and check one image in the isolated child; a death is a problem naming
        the signal and the kept image (the replay line follows in the report)."""
        assert self._worker is not None
        outcome = self._worker.call_on_files(
            image, image_problems, self.store_class, self.seed, len(self.ops), completed,
            started, deep, label=f"power-loss-seed{self.seed}")
        if outcome.ok:
            return list(outcome.value)
        return [outcome.report("opening and checking this image")]


@functools.lru_cache(maxsize=4)
def _timeline(seed: int, count: int, batches: tuple[str, ...]) -> Timeline:
    return Timeline(list(operations(seed, count, batches)))


def image_problems(path: str, store_class: type[Any], seed: int, count: int, completed: int,
                   started: int, deep: bool) -> list[str]:
    """The child's part of a power-loss check: open the image in ``path`` (of the workload
    ``seed``/``count`` cut after ``completed`` of ``started`` operations), check it, and
    (``deep``) keep working with it."""
    try:
        store = store_class.open(path)
    except Exception as exc:
        return [f"open() raised {type(exc).__name__}: {exc}"]
    try:
        problems = run_check(store)
        actual = snapshot(store)
        timeline = _timeline(seed, count, batch_kinds(store_class))
        problems += power_loss_problems(actual, timeline, completed, started)
        if not problems and deep:
            problems += keep_working(store, store_class, path, actual, seed)
        return problems
    finally:
        close_quietly(store)
