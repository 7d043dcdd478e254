"""The store under test, resolved once per run from ``--warmtier-store``: the one object
every suite asks what the store is, takes, and declares, instead of guessing.

A store declares (all optional class attributes; the contract's defaults in brackets):

- ``failpoint_names`` [``()``]: the failpoints it calls.
- ``crash_promise`` [``"prefix"``]: ``"prefix"`` is the contract's promise after a kill
  (some prefix of the completed operations, including all before the last completed
  ``flush()``); ``"no-loss"`` claims more: no completed operation is lost, and the one in
  flight is all or nothing. Stronger checks are applied only to a store that claims them.
- ``in_memory`` [False, True for ``ModelStore``]: keeps its state in this process only.
- ``create_options`` [the keyword options ``create`` names]: what ``create`` takes
  besides ``path`` and ``dim`` (needed only when ``create`` takes ``**options``).
- ``known_gaps`` [``{}``]: contract promises the store knowingly does not keep, each a
  name of :data:`GAPS` mapped to the reason; tests of that promise become strict
  expected failures.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import inspect
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "GAPS",
    "REFERENCE_STORE",
    "SIZING_HINTS",
    "STORE_ENV",
    "CrashPromise",
    "Subject",
    "SubjectError",
    "load_store_class",
    "owned_scratch",
    "scratch_dir",
    "scratch_root",
    "sweep_scratch",
]

REFERENCE_STORE = "warmtier.store:WarmTierStore"
STORE_ENV = "WARMTIER_STORE"
SCRATCH_ENV = "WARMTIER_MACHINE_TMPDIR"

CrashPromise = Literal["prefix", "no-loss"]

#: The promises a store may declare as known gaps; a test marked
#: ``@pytest.mark.promise(name)`` checks the promise ``name``.
GAPS: Mapping[str, str] = {
    "corrupt-files": "open() of damaged files raises CorruptionError, never a wrong "
                     "record or a crash",
    "full-disk": "a full disk is a CapacityError that changes nothing",
    "kill-recovery": "after SIGKILL, open() recovers a prefix of the completed operations",
    "power-loss": "after power loss, everything as of the last durability point is there, "
                  "and nothing torn",
    "linearizable": "concurrent calls are linearizable",
    "scan-consistency": "scan is weakly consistent under concurrent writes",
    "locking": "a second open of a directory raises StoreLockedError",
}

#: The batch calls of docs/contract-extensions.md, each drawn for a store that declares it.
BATCH_CALLS = ("put_many", "get_many", "remove_many", "search_many")
#: Options the suites know how to choose for ``create`` (the reference store's).
KNOWN_CREATE_OPTIONS = (
    "initial_capacity", "initial_content_bytes", "max_content", "max_slots",
    "max_content_bytes",
)
#: Create options that only size the files: a store that does not take them is tested
#: without them (the others change what the store accepts, so a test needing them skips).
SIZING_HINTS = ("initial_capacity", "initial_content_bytes")


class SubjectError(ValueError):
    """A ``--warmtier-store`` spec that names no usable store class, or a class whose
    declarations are malformed; the message says how to fix it."""


def load_store_class(spec: str) -> type[Any]:
    """Import ``package.module:Class`` (the ``--warmtier-store`` spelling)."""
    module_name, sep, class_name = spec.partition(":")
    if not sep or not module_name or not class_name:
        raise SubjectError(f"store spec {spec!r}: expected 'package.module:Class', "
                           f"for example {REFERENCE_STORE!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise SubjectError(f"store spec {spec!r}: cannot import {module_name!r} ({exc}); "
                           "is it installed or on PYTHONPATH?") from exc
    cls = getattr(module, class_name, None)
    if not isinstance(cls, type):
        raise SubjectError(f"store spec {spec!r}: {module_name} has no class {class_name!r}")
    for name in ("create", "open"):
        if not callable(getattr(cls, name, None)):
            raise SubjectError(f"store spec {spec!r}: {class_name} lacks the classmethod "
                               f"{name}()")
    return cls


def _batch_calls(cls: type[Any], spec: str) -> tuple[str, ...]:
    """``cls.batch_calls``, checked: known names, each a method of the class."""
    declared = tuple(getattr(cls, "batch_calls", None) or ())
    unknown = sorted(set(declared) - set(BATCH_CALLS))
    if unknown:
        raise SubjectError(f"{spec}: batch_calls names {unknown}; the batch calls are "
                           f"{list(BATCH_CALLS)}")
    missing = [name for name in declared if not callable(getattr(cls, name, None))]
    if missing:
        raise SubjectError(f"{spec}: batch_calls declares {missing}, which the class does "
                           "not have")
    return declared


def _keyword_options(function: Any, declared: Any) -> tuple[str, ...] | None:
    """The keyword options ``function`` names (beyond path and dim); ``declared`` when it
    takes ``**options`` (None when it declares nothing)."""
    try:
        params = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return ()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return None if declared is None else tuple(declared)
    return tuple(name for name, p in params.items() if name not in ("path", "dim")
                 and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
                 and p.default is not p.empty)


@dataclass(frozen=True)
class Subject:
    """What the suites know of the store under test; build it with :meth:`resolve`."""

    spec: str
    cls: type[Any]
    crash_promise: CrashPromise = "prefix"
    in_memory: bool = False
    has_check: bool = False
    failpoint_names: tuple[str, ...] = ()
    create_options: tuple[str, ...] = ()
    open_options: tuple[str, ...] = ()
    known_gaps: Mapping[str, str] = field(default_factory=dict)
    #: The batch calls of docs/contract-extensions.md the store declares it keeps (the
    #: suites draw those; a method of the same name alone promises nothing).
    batch_calls: tuple[str, ...] = ()

    @staticmethod
    @functools.cache
    def resolve(spec: str) -> Subject:
        """The subject named by ``spec``; a :class:`SubjectError` says what is wrong."""
        return Subject.of(load_store_class(spec), spec)

    @staticmethod
    def of(cls: type[Any], spec: str | None = None) -> Subject:
        """The subject of a class (``spec`` defaults to ``module:qualname``)."""
        spec = spec or f"{cls.__module__}:{cls.__qualname__}"
        promise: CrashPromise = getattr(cls, "crash_promise", "prefix")
        if promise not in ("prefix", "no-loss"):
            raise SubjectError(f"{spec}: crash_promise must be 'prefix' or 'no-loss', "
                               f"not {promise!r}")
        gaps = dict(getattr(cls, "known_gaps", None) or {})
        unknown = sorted(set(gaps) - set(GAPS))
        if unknown:
            raise SubjectError(f"{spec}: known_gaps names {unknown}; the promises a store "
                               f"may declare are {sorted(GAPS)}")
        declared = getattr(cls, "create_options", None)
        return Subject(
            spec=spec, cls=cls, crash_promise=promise,
            in_memory=_in_memory(cls), has_check=callable(getattr(cls, "check", None)),
            failpoint_names=tuple(getattr(cls, "failpoint_names", ()) or ()),
            create_options=_keyword_options(cls.create, declared) or (),
            open_options=_keyword_options(cls.open, None) or (),
            known_gaps=gaps,
            batch_calls=_batch_calls(cls, spec),
        )

    @staticmethod
    def from_env() -> Subject:
        """The subject a child process inherits through ``WARMTIER_STORE``."""
        return Subject.resolve(os.environ.get(STORE_ENV) or REFERENCE_STORE)

    @property
    def is_reference(self) -> bool:
        """The reference store itself: its own definitions (stats formulas, file format,
        internals) are checked for it alone."""
        return self.spec == REFERENCE_STORE

    @property
    def no_loss(self) -> bool:
        """Whether the store claims that no completed operation is lost."""
        return self.crash_promise == "no-loss"

    def options(self, **wanted: Any) -> dict[str, Any]:
        """``wanted`` create options, keeping only those the store takes."""
        return {k: v for k, v in wanted.items() if k in self.create_options}

    def create(self, path: str | os.PathLike[str], dim: int, **wanted: Any) -> Any:
        """A new store, with those of ``wanted`` options the store takes."""
        return self.cls.create(path, dim=dim, **self.options(**wanted))

    def open(self, path: str | os.PathLike[str], **wanted: Any) -> Any:
        """Open a store, with those of ``wanted`` open options the store takes."""
        taken = {k: v for k, v in wanted.items() if k in self.open_options}
        return self.cls.open(path, **taken)


def _in_memory(cls: type[Any]) -> bool:
    flag = getattr(cls, "in_memory", None)
    if flag is not None:
        return bool(flag)
    from warmtier.model import ModelStore

    return issubclass(cls, ModelStore)


#: This host, as scratch directory names hold it (a shared /tmp can hold other hosts'
#: directories, or another container's, whose process ids mean nothing here).
_HOST = re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:32] or "host"
#: ``warmtier-[kind-]<host>-<pid>-<random>``: the owner of a scratch directory.
_OWNER = re.compile(r"^warmtier-(?:[a-z]+-)?([A-Za-z0-9]+)-(\d+)-")
#: The roots this process has swept.
_SWEPT: set[str] = set()


def scratch_root() -> str | None:
    """Where suites put store directories: ``$WARMTIER_MACHINE_TMPDIR``, else ``/dev/shm``
    when it is a writable directory (fsync is free on tmpfs), else the system default."""
    chosen = os.environ.get(SCRATCH_ENV)
    if chosen:
        return chosen
    shm = "/dev/shm"
    if os.path.isdir(shm) and os.access(shm, os.W_OK):
        return shm
    return None


@contextlib.contextmanager
def scratch_dir(prefix: str = "warmtier-") -> Iterator[str]:
    """A new scratch directory (:func:`owned_scratch`), removed however the block ends."""
    where = owned_scratch(prefix)
    try:
        yield where
    finally:
        shutil.rmtree(where, ignore_errors=True)


def owned_scratch(prefix: str, root: str | None = None) -> str:
    """A new directory under ``root`` (default :func:`scratch_root`) named ``prefix``, this
    host and this process's id; it lives as long as this process (hand it to no process
    that outlives this one). The first call per root in a process removes the ones a
    process of this host left there and that no longer runs: a run killed before its
    clean-up (a timeout, a cancelled job) leaves its stores behind, and on tmpfs they hold
    memory until the machine has none."""
    where = root or scratch_root() or tempfile.gettempdir()
    if where not in _SWEPT:
        _SWEPT.add(where)
        sweep_scratch(where)
    return tempfile.mkdtemp(prefix=f"{prefix}{_HOST}-{os.getpid()}-", dir=where)


def sweep_scratch(root: str) -> list[str]:
    """Remove the directories under ``root`` that :func:`owned_scratch` made for a process
    of this host that no longer runs (another host's, or a live process's, are left);
    their names."""
    gone = []
    for name in sorted(os.listdir(root)):
        owner = _OWNER.match(name)
        if owner is None or owner.group(1) != _HOST or _running(int(owner.group(2))):
            continue
        shutil.rmtree(os.path.join(root, name), ignore_errors=True)
        gone.append(name)
    return gone


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True
