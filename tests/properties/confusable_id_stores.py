"""Stores that merge ids the contract says are distinct: keyed by a case-folded, normalized,
stripped, path-normalized or truncated form of the id. Each is the model store with one
patch: its records dict maps every id to a key first (as a store keying rows or files by
that key would), so a put of one id replaces the record of its sibling, and a get of
one returns the other's record.
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Callable, Iterator
from typing import Any

from warmtier.model import ModelStore
from warmtier.records import Record


class KeyedRecords(dict[str, Record]):
    """A dict of records keyed by ``key(id)``; iterating yields the stored records' ids."""

    def __init__(self, key: Callable[[str], str]) -> None:
        super().__init__()
        self.key = key

    def __setitem__(self, id: str, record: Record) -> None:
        super().__setitem__(self.key(id), record)

    def __getitem__(self, id: str) -> Record:
        return super().__getitem__(self.key(id))

    def __contains__(self, id: object) -> bool:
        return isinstance(id, str) and super().__contains__(self.key(id))

    def get(self, id: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(self.key(id), default)

    def pop(self, id: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().pop(self.key(id), default)

    def __iter__(self) -> Iterator[str]:
        return (record.id for record in list(self.values()))


class _KeyedStore(ModelStore):
    @staticmethod
    def key(id: str) -> str:
        raise NotImplementedError

    def __init__(self, dim: int, **options: Any) -> None:
        super().__init__(dim, **options)
        self._state.records = KeyedRecords(self.key)


class CaseFoldingStore(_KeyedStore):
    """Keys rows by ``id.casefold()`` (a case-insensitive collation): 'a' is 'A'."""

    @staticmethod
    def key(id: str) -> str:
        return id.casefold()


class NfcStore(_KeyedStore):
    """Keys by the NFC form (a file system that normalizes names): 'é' is 'e\\u0301'."""

    @staticmethod
    def key(id: str) -> str:
        return unicodedata.normalize("NFC", id)


class NfkcStore(_KeyedStore):
    """Keys by the NFKC form (compatibility folding): 'ﬁ' is 'fi'."""

    @staticmethod
    def key(id: str) -> str:
        return unicodedata.normalize("NFKC", id)


class TrailingSpaceStripStore(_KeyedStore):
    """Keys by ``id.rstrip()`` (a CHAR(n) column pads and compares without trailing
    blanks): 'a' is 'a ' and 'a\\t'."""

    @staticmethod
    def key(id: str) -> str:
        return id.rstrip() or id


class FileNameStore(_KeyedStore):
    """Keys by ``os.path.normpath(id)`` (a record per file, named by its id): 'a/b' is
    'a//b' and './a/b'."""

    @staticmethod
    def key(id: str) -> str:
        return os.path.normpath(id)


class CharTruncatingStore(_KeyedStore):
    """Keys by the first 64 characters (a fixed-width key column, truncated in characters
    rather than rejected): 'k' * 64 + 'x' is 'k' * 64 + 'y'."""

    @staticmethod
    def key(id: str) -> str:
        return id[:64]


CONFUSING_STORES: tuple[type[ModelStore], ...] = (
    CaseFoldingStore, NfcStore, NfkcStore, TrailingSpaceStripStore, FileNameStore,
    CharTruncatingStore,
)
