"""Simulated power loss: the disk images a power cut could leave, built from real writes.

:class:`DurabilityTracker` watches one store directory without knowing its layout: it
wraps ``os.fsync``/``os.fdatasync`` and records, per file, the bytes that were made
durable (an fsync of a file) and, per name, the file a directory fsync made durable. A
crash point captures the files as they are now (the page cache); :func:`build_image`
makes a power-cut image from a capture: each file's durable bytes plus a subset of the
4 KiB pages written since, a file size of either, and each creation, rename or unlink
since the last directory fsync either done or not. :class:`PowerLossRun` runs a seeded
workload in this process, captures a crash point at every failpoint hit, around every
fsync and after every operation, and checks many images of each, each opened in an
isolated child (``isolate``), so a store that dies on an image is a reported failure.

Limits, by design: only ``os.fsync``/``os.fdatasync`` count as durability (a store that
relies on ``msync`` alone looks less durable than it is, so the check is stricter, never
laxer); files are identified by inode, so an inode reused between two directory fsyncs
can lend its old durable bytes to an image of the new file.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from warmtier import failpoints
from warmtier.testing.contract import close_quietly, snapshot
from warmtier.testing.crash.checks import power_loss_problems, run_check
from warmtier.testing.crash.isolate import Isolated, worker_or
from warmtier.testing.crash.kills import keep_working, replay_command
from warmtier.testing.crash.points import KillPoint
from warmtier.testing.crash.workload import States, apply, make_store, operations

__all__ = [
    "PAGE",
    "Capture",
    "DurabilityTracker",
    "PowerLossRun",
    "adversarial_modes",
    "build_image",
    "image_problems",
]

PAGE = 4096


@dataclass(frozen=True)
class Capture:
    """One crash point: the files now, and what the disk durably holds."""

    label: str
    current: dict[str, tuple[int, bytes]]  # name -> (inode, bytes in the page cache)
    names: dict[str, int]  # name -> inode, as of the last directory fsync
    durable: dict[int, bytes]  # inode -> bytes as of its last fsync

    def digest(self) -> str:
        h = hashlib.blake2b(digest_size=16)
        for name in sorted(self.current):
            ino, data = self.current[name]
            h.update(f"{name}\0{ino}\0{len(data)}\0".encode())
            h.update(data)
        for name in sorted(self.names):
            h.update(f"n{name}\0{self.names[name]}\0".encode())
        for ino in sorted(self.durable):
            h.update(f"d{ino}\0".encode())
            h.update(hashlib.blake2b(self.durable[ino], digest_size=8).digest())
        return h.hexdigest()


def _read_dir(directory: str) -> dict[str, tuple[int, bytes]]:
    out: dict[str, tuple[int, bytes]] = {}
    for name in os.listdir(directory):
        path = os.path.join(directory, name)
        try:
            st = os.lstat(path)
            if not stat.S_ISREG(st.st_mode):
                continue
            with open(path, "rb") as f:
                out[name] = (st.st_ino, f.read())
        except FileNotFoundError:
            continue
    return out


class DurabilityTracker:
    """Tracks what of ``directory`` an fsync made durable. ``install()`` wraps the fsync
    calls of this process; ``on_sync(label)`` is called just before and after each fsync
    of the directory or a file in it (a crash point there)."""

    def __init__(self, directory: str | os.PathLike[str],
                 on_sync: Callable[[str], None] | None = None) -> None:
        self.directory = os.path.realpath(os.fspath(directory))
        self.on_sync = on_sync
        self.names: dict[str, int] = {}
        self.durable: dict[int, bytes] = {}
        self.reset()
        self._saved: tuple[Any, Any] | None = None

    def reset(self) -> None:
        """Treat everything in the directory now as durable (the baseline)."""
        now = _read_dir(self.directory)
        self.names = {name: ino for name, (ino, _) in now.items()}
        self.durable = {ino: data for ino, data in now.values()}

    def capture(self, label: str) -> Capture:
        return Capture(label, _read_dir(self.directory), dict(self.names), dict(self.durable))

    def _target(self, fd: int) -> str | None:
        try:
            path = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            return None
        if path == self.directory or os.path.dirname(path) == self.directory:
            return path
        return None

    def _synced(self, path: str, fd: int) -> None:
        if path == self.directory:
            now = _read_dir(self.directory)
            self.names = {name: ino for name, (ino, _) in now.items()}
            for ino, data in now.values():
                # A file named durably but never fsynced: take its bytes as they are (an
                # approximation; every file the reference store names it fsyncs first).
                self.durable.setdefault(ino, data)
            return
        st = os.fstat(fd)
        with open(f"/proc/self/fd/{fd}", "rb") as f:
            self.durable[st.st_ino] = f.read()

    def _wrap(self, real: Callable[[Any], None]) -> Callable[[Any], None]:
        def sync(fd: Any) -> None:
            fd = fd if isinstance(fd, int) else fd.fileno()
            path = self._target(fd)
            if path is None:
                real(fd)
                return
            base = os.path.basename(path) or "."
            if self.on_sync is not None:
                self.on_sync(f"before fsync({base})")
            real(fd)
            self._synced(path, fd)
            if self.on_sync is not None:
                self.on_sync(f"after fsync({base})")

        return sync

    def install(self) -> None:
        if self._saved is None:
            self._saved = (os.fsync, os.fdatasync)
            os.fsync = self._wrap(self._saved[0])  # type: ignore[assignment]
            os.fdatasync = self._wrap(self._saved[1])  # type: ignore[assignment]

    def uninstall(self) -> None:
        if self._saved is not None:
            os.fsync, os.fdatasync = self._saved
            self._saved = None

    def __enter__(self) -> DurabilityTracker:
        self.install()
        return self

    def __exit__(self, *exc: object) -> None:
        self.uninstall()


# -- images ----------------------------------------------------------------------------

Mode = tuple[str, str]  # ("random"|"all"|"none"|"headers"|"no-headers"|"only"|"except", file)


def adversarial_modes(capture: Capture) -> list[Mode]:
    """The fixed images of a crash point: every write or none; only the first page of
    each file ("only the header"); every page but the first; and for each changed file,
    all of its pages and none of the others, and the reverse (for the reference store:
    all slot pages but no content pages, and the reverse)."""
    modes: list[Mode] = [("all", ""), ("none", ""), ("headers", ""), ("no-headers", "")]
    for name in sorted(capture.current):
        ino, data = capture.current[name]
        if capture.durable.get(ino) != data or capture.names.get(name) != ino:
            modes += [("only", name), ("except", name)]
    return modes


def _changed_pages(base: bytes, now: bytes) -> list[int]:
    n = (max(len(base), len(now)) + PAGE - 1) // PAGE
    a = np.zeros(n * PAGE, np.uint8)
    b = np.zeros(n * PAGE, np.uint8)
    a[: len(base)] = np.frombuffer(base, np.uint8)
    b[: len(now)] = np.frombuffer(now, np.uint8)
    differ = (a.reshape(n, PAGE) != b.reshape(n, PAGE)).any(axis=1)
    return np.flatnonzero(differ).tolist()


def build_image(capture: Capture, mode: Mode, rng: np.random.Generator) -> dict[str, bytes]:
    """The files a power cut at ``capture`` could leave, chosen by ``mode``."""
    kind, target = mode
    fraction = float(rng.random())

    def take(name: str, page: int) -> bool:
        if kind == "all":
            return True
        if kind == "none":
            return False
        if kind == "headers":
            return page == 0
        if kind == "no-headers":
            return page != 0
        if kind == "only":
            return name == target
        if kind == "except":
            return name != target
        return bool(rng.random() < fraction)

    image: dict[str, bytes] = {}
    for name in sorted(set(capture.current) | set(capture.names)):
        now = capture.current.get(name)
        old = capture.names.get(name)
        if now is None or old != now[0]:
            # Created, renamed over or unlinked since the last directory fsync: the change
            # reached the disk whole (take it) or not at all (the old file, if any, stays).
            done = take(name, -1)
            if now is None or not done:
                if old is not None and not (now is None and done):
                    image[name] = capture.durable.get(old, b"")
                continue
        ino, data = now
        base = capture.durable.get(ino, b"")
        pages = [p for p in _changed_pages(base, data) if take(name, p)]
        grown = len(data) != len(base)
        size = len(data) if not grown or take(name, len(data) // PAGE) else len(base)
        out = bytearray(size)
        out[: min(size, len(base))] = base[:size]
        for p in pages:
            start = p * PAGE
            if start < size:
                end = min(size, start + PAGE)
                out[start:end] = data[start:end].ljust(end - start, b"\0")
        image[name] = bytes(out)
    return image


# -- the in-process run ------------------------------------------------------------------


@dataclass
class PowerLossResult:
    """Totals of a run and the failures found (one report per failing crash point)."""

    seed: int
    crash_points: int = 0
    images: int = 0
    distinct_images: int = 0
    failures: list[str] = field(default_factory=list)


class PowerLossRun:
    """Run the workload of ``seed`` in this process against a fresh store in ``workdir``,
    capture crash points, and check ``random_images`` random images of each plus the
    adversarial ones. ``only`` restricts the checks to one crash point (a replay)."""

    def __init__(self, store_class: type[Any], store_spec: str, workdir: str | os.PathLike[str],
                 seed: int, *, ops: int = 40, random_images: int = 4, only: int | None = None,
                 keep_working_every: int = 25, max_failures: int = 3) -> None:
        self.store_class = store_class
        self.store_spec = store_spec
        self.workdir = os.fspath(workdir)
        self.seed = seed
        self.ops = list(operations(seed, ops))
        self.states = States(self.ops)
        self.random_images = random_images
        self.only = only
        self.keep_working_every = keep_working_every
        self.max_failures = max_failures
        self.result = PowerLossResult(seed)
        self._pending: list[tuple[int, Capture, int, int]] = []
        self._seen_captures: set[str] = set()
        self._seen_images: dict[str, list[str]] = {}
        self._point = 0
        self._completed = 0
        self._started = 0
        self._checking = False
        self._tracker: DurabilityTracker | None = None
        self._worker: Isolated | None = None

    def _capture(self, label: str) -> None:
        if self._checking or self._tracker is None:
            return
        self._point += 1
        if self.only is not None and self._point != self.only:
            return
        cap = self._tracker.capture(label)
        digest = cap.digest() + f"/{self._completed}/{self._started}"
        if digest in self._seen_captures and self.only is None:
            return
        self._seen_captures.add(digest)
        self._pending.append((self._point, cap, self._completed, self._started))

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
        directory = tempfile.mkdtemp(prefix=f"pl-{self.seed}-", dir=self.workdir)
        path = os.path.join(directory, "store")
        store = make_store(self.store_class, path)
        tracker = DurabilityTracker(path, on_sync=self._capture)
        self._tracker = tracker
        arming = failpoints.arm("*", failpoints.Call(
            lambda name: self._capture(f"failpoint {name}")))
        try:
            with tracker:
                for op in self.ops:
                    self._started = op.index + 1
                    apply(store, op)
                    self._completed = op.index + 1
                    self._capture(f"after {op.describe()}")
                    self._drain()
                    if len(self.result.failures) >= self.max_failures:
                        break
                    if self.only is not None and self._point >= self.only:
                        break  # a replay: the crash point is behind us
        finally:
            failpoints.disarm(arming)
            self._tracker = None
            close_quietly(store)
            shutil.rmtree(directory, ignore_errors=True)
        return self.result

    def _drain(self) -> None:
        pending, self._pending = self._pending, []
        for point, cap, completed, started in pending:
            self.result.crash_points += 1
            self._checking = True
            try:
                problems = self._check_point(point, cap, completed, started)
            finally:
                self._checking = False
            if problems:
                self.result.failures.append(self._report(point, cap, completed, started,
                                                         problems))

    def _report(self, point: int, cap: Capture, completed: int, started: int,
                problems: list[str]) -> str:
        flight = (f"in flight: {self.ops[completed].describe()}" if started > completed
                  else "nothing in flight")
        return "\n".join([
            f"power-loss image failed for store {self.store_spec}: seed {self.seed}, crash "
            f"point pl:{point} ({cap.label}; {completed} operation(s) completed, {flight}; "
            f"last durability point after {self.states.last_durable(completed)} operations)",
            *[f"  {p}" for p in problems],
            f"replay: {replay_command(self.seed, KillPoint('pl', number=point), self.store_spec)}",
        ])

    def images(self, point: int, cap: Capture) -> Iterator[tuple[str, dict[str, bytes]]]:
        rng = np.random.default_rng([self.seed, point])
        for mode in adversarial_modes(cap):
            yield f"{mode[0]} {mode[1]}".strip(), build_image(cap, mode, rng)
        for n in range(self.random_images):
            yield f"random #{n}", build_image(cap, ("random", ""), rng)

    def _check_point(self, point: int, cap: Capture, completed: int, started: int) -> list[str]:
        for label, image in self.images(point, cap):
            self.result.images += 1
            h = hashlib.blake2b(digest_size=16)
            for name in sorted(image):
                h.update(name.encode() + b"\0" + len(image[name]).to_bytes(8, "little"))
                h.update(image[name])
            key = h.hexdigest() + f"/{completed}/{started}"
            if key in self._seen_images:
                problems = self._seen_images[key]
            else:
                self.result.distinct_images += 1
                deep = int(key[:8], 16) % self.keep_working_every == 0  # same on a replay
                problems = self._check_image(image, completed, started, deep)
                self._seen_images[key] = problems
            if problems:
                sizes = ", ".join(f"{n} {len(d)} B" for n, d in sorted(image.items()))
                return [f"image {label!r} ({sizes}):", *problems]
        return []

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
def _states(seed: int, count: int) -> States:
    return States(list(operations(seed, count)))


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
        problems += power_loss_problems(actual, _states(seed, count), completed, started)
        if not problems and deep:
            problems += keep_working(store, store_class, path, actual, seed)
        return problems
    finally:
        close_quietly(store)
