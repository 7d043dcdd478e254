"""Hostile stores for the isolation tests: each dies by a signal when it opens files, the
way a store with a native engine can (SIGBUS, SIGABRT, SIGSEGV), or writes through a map."""

from __future__ import annotations

import ctypes
import os
import signal
from typing import Any, ClassVar

from warmtier.store import WarmTierStore


class _DiesOnOpen(WarmTierStore):
    """Creates stores as the reference store does; ``open`` kills the process."""

    def_signal: ClassVar[int] = signal.SIGKILL

    @classmethod
    def open(cls, path: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        os.kill(os.getpid(), cls.def_signal)
        raise AssertionError("unreachable")


class BusErrorOnOpen(_DiesOnOpen):
    """``open`` raises SIGBUS, as a map of a short or unbacked file does."""

    def_signal = signal.SIGBUS


class AbortOnOpen(_DiesOnOpen):
    """``open`` aborts, as LMDB does on some damaged files."""

    def_signal = signal.SIGABRT


class SegfaultOnOpen(WarmTierStore):
    """``open`` reads address 0."""

    @classmethod
    def open(cls, path: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        ctypes.string_at(0)
        raise AssertionError("unreachable")


try:
    from warmtier.adapters.lmdb import LMDBStore
except ImportError:  # pragma: no cover - py-lmdb missing
    LMDBStore = None  # type: ignore[assignment,misc]

if LMDBStore is not None:

    class LMDBWritemap(LMDBStore):  # type: ignore[valid-type,misc]
        """LMDB writing through a shared map (``writemap=True``): on a full disk a write
        to a page of the sparse file the disk cannot back is a SIGBUS."""

        env_options: ClassVar[dict[str, Any]] = {**LMDBStore.env_options, "writemap": True}
