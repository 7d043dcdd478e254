"""What every engine adapter shares: the directory rules, the LOCK file, the closed state,
one lock per store, the weakly consistent scan and the brute-force cosine top-k.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any, ClassVar, Self, TypeVar

import numpy as np

from warmtier.errors import (
    CorruptionError,
    InvalidArgumentError,
    StoreClosedError,
    StoreLockedError,
)
from warmtier.records import Embedding, Record

__all__ = ["EngineStore", "existing_directory", "new_directory", "top_k"]

T = TypeVar("T")


def new_directory(path: str | os.PathLike[str], dim: Any, max_content: Any) -> str:
    """Check create()'s arguments and make ``path`` (absent or an empty directory)."""
    for name, value, low in (("dim", dim, 1), ("max_content", max_content, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise InvalidArgumentError(f"{name} must be an int >= {low}; got {value!r}")
    directory = os.path.abspath(os.fspath(path))
    if os.path.lexists(directory) and (not os.path.isdir(directory) or os.listdir(directory)):
        raise InvalidArgumentError(f"{directory} is not an empty directory; create needs one")
    os.makedirs(directory, exist_ok=True)
    return directory


def existing_directory(path: str | os.PathLike[str], data_name: str) -> str:
    """``path`` as open() needs it: ENOENT if missing, CorruptionError without ``data_name``."""
    directory = os.path.abspath(os.fspath(path))
    if not os.path.exists(directory):
        raise FileNotFoundError(errno.ENOENT, "no store at this path", directory)
    if not os.path.isfile(os.path.join(directory, data_name)):
        raise CorruptionError(f"{directory} holds no {data_name}; not a store of this kind")
    return directory


def top_k(ids: list[str], matrix: Embedding, query: Embedding, k: int) -> list[tuple[str, float]]:
    """Cosine of each row with ``query`` in float64 (as the model), zero norm scoring 0.0;
    the ``k`` best, best first, ties by id. Row sums, not BLAS: equal rows score equal."""
    e, q = matrix.astype(np.float64), query.astype(np.float64)
    norms = np.sqrt((e * e).sum(axis=1))
    with np.errstate(all="ignore"):
        scores = np.clip((e * q).sum(axis=1) / (norms * np.linalg.norm(q)), -1.0, 1.0)
    scores[norms == 0.0] = 0.0
    cand = list(range(len(ids)))
    if k < len(ids):  # only the ties of the k-th best need the (score, id) sort
        cand = np.flatnonzero(scores >= np.partition(scores, len(ids) - k)[len(ids) - k]).tolist()
    best = sorted(cand, key=lambda i: (-scores[i], ids[i]))[:k]
    return [(ids[i], float(scores[i])) for i in best]


class EngineStore:
    """The engine-independent half of a contract store; a subclass adds the records.

    It holds an exclusive, non-blocking ``flock`` on ``LOCK`` in the directory while open
    (a second open, in this process or another, is a StoreLockedError), runs every call
    under one lock (:meth:`_guard`), and turns the engine's errors into contract errors
    there (:meth:`_translate`).
    """

    failpoint_names: ClassVar[tuple[str, ...]] = ()
    crash_promise: ClassVar[str] = "no-loss"
    known_gaps: ClassVar[dict[str, str]] = {}
    #: The engine's exception base class, translated by :meth:`_translate`.
    engine_error: ClassVar[type[Exception]] = Exception

    def __init__(self, directory: str, lock_fd: int, dim: int, max_content: int) -> None:
        self._path, self._lock_fd = directory, lock_fd
        self._dim, self._max_content = dim, max_content
        self._lock = self._make_lock()
        self._closed = False

    # -- for subclasses -------------------------------------------------------------

    def _make_lock(self) -> contextlib.AbstractContextManager[Any]:
        return threading.Lock()

    @classmethod
    def _translate(cls, exc: Exception, what: str) -> Exception:
        """The contract error for an engine error (CapacityError, CorruptionError) or itself."""
        return exc

    def _close_engine(self) -> None:
        """Release the engine's handles (called once, by close() or when abandoned)."""

    @classmethod
    def _locked(cls, directory: str, creating: bool, start: Callable[[int], T]) -> T:
        """``start(lock_fd)`` under the directory's LOCK; on failure unlock, and a failed
        create empties the directory again so that a retry can create. An engine error
        is a contract error: at create as :meth:`_translate` says, at open always a
        CorruptionError (the engine rejected what it found), as is text that is not
        UTF-8."""
        fd = os.open(os.path.join(directory, "LOCK"), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StoreLockedError(f"{directory} is already open") from None
        try:
            return start(fd)
        except BaseException as exc:
            os.close(fd)
            for name in os.listdir(directory) if creating else ():
                os.unlink(os.path.join(directory, name))
            if not creating and isinstance(exc, UnicodeDecodeError):
                # damaged text the engine hands back (sqlite3 decodes TEXT, even a pragma's)
                raise CorruptionError(f"{directory}: text that is not UTF-8 ({exc})") from None
            if not isinstance(exc, cls.engine_error):
                raise
            if not creating:
                raise CorruptionError(f"{directory}: {exc}") from exc
            error = cls._translate(exc, f"create {directory}")
            if error is exc:
                raise
            raise error from exc

    @contextlib.contextmanager
    def _guard(self, what: str) -> Iterator[None]:
        """Under the lock, the store open, engine errors turned into contract errors."""
        with self._lock:
            if self._closed:
                raise StoreClosedError(f"the store at {self._path} is closed")
            try:
                yield
            except self.engine_error as exc:
                error = self._translate(exc, what)
                if error is exc:
                    raise
                raise error from exc

    # -- the shared part of the contract ------------------------------------------

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def path(self) -> str:
        return self._path

    def get(self, id: str) -> Record | None:
        raise NotImplementedError

    def ids(self) -> list[str]:
        raise NotImplementedError

    def scan(self, batch_size: int = 1024) -> Iterator[Record]:
        """Weakly consistent: the ids live now, each read by ``get``, removed ones skipped.
        ``batch_size`` is checked; records are read one at a time."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidArgumentError(f"batch_size must be a positive int; got {batch_size!r}")
        return (rec for rec in map(self.get, self.ids()) if rec is not None)

    def close(self) -> None:
        """Release the engine and the LOCK. Later calls raise StoreClosedError; twice is fine."""
        with self._lock:
            if not self._closed:
                self._closed = True
                try:
                    self._close_engine()
                finally:
                    os.close(self._lock_fd)

    def __del__(self) -> None:  # abandoned without close(): unlock, so it can be opened again
        if not getattr(self, "_closed", True):
            self._closed = True
            with contextlib.suppress(Exception):
                self._close_engine()
            with contextlib.suppress(OSError):
                os.close(self._lock_fd)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._path} {'closed' if self._closed else 'open'}>"
