"""Model stores that declare known gaps, for the tests of the subject's declarations:
one that really lacks the promise it declares, one that keeps it anyway."""

from __future__ import annotations

import os
import threading
from typing import Any, ClassVar

from warmtier.model import ModelStore


class UnlockedModel(ModelStore):
    """A model whose ``open`` ignores the holder (no ``StoreLockedError``), and says so."""

    known_gaps: ClassVar[dict[str, str]] = {"locking": "open() takes no lock"}

    @classmethod
    def open(cls, path: str | os.PathLike[str], **options: Any) -> ModelStore:
        key = os.path.abspath(os.fspath(path))
        with cls._registry_lock:
            state = cls._registry[key]
            store = cls.__new__(cls)
            store._state, store._path = state, key
            store._lock, store._closed = threading.RLock(), False
        return store


class NeedlesslyModestModel(ModelStore):
    """A model that declares the locking gap although it keeps the promise."""

    known_gaps: ClassVar[dict[str, str]] = {"locking": "claimed, but not so"}


class UnknownGapModel(ModelStore):
    known_gaps: ClassVar[dict[str, str]] = {"telepathy": "not a promise of the contract"}


class PlainStore:
    """Only ``create(path, dim)`` and ``open(path)``: no declarations at all."""

    @classmethod
    def create(cls, path: str, dim: int) -> PlainStore:
        raise NotImplementedError

    @classmethod
    def open(cls, path: str) -> PlainStore:
        raise NotImplementedError
