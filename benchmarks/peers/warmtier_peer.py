"""warmtier itself, through the public contract (and put_many/get_many if it has them)."""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator
from typing import Any, ClassVar

from benchmarks.peers.base import Peer, Row, Vec

REFERENCE_STORE = "warmtier.store:WarmTierStore"


def _store_class() -> Any:
    """The store under test: ``$WARMTIER_STORE`` (``module:Class``) or the reference."""
    spec = os.environ.get("WARMTIER_STORE", REFERENCE_STORE)
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


class Warmtier(Peer):
    name: ClassVar[str] = "warmtier"
    family: ClassVar[str] = "warmtier"

    def __init__(self, path: str, dim: int, store: Any) -> None:
        super().__init__(path, dim)
        self.store = store

    @classmethod
    def version(cls) -> str:
        import warmtier
        from warmtier.perf.history import git_commit

        return f"{warmtier.__version__} ({git_commit()['commit'][:10]})"

    @classmethod
    def create(cls, path: str, dim: int) -> Peer:
        return cls(path, dim, _store_class().create(path, dim=dim))

    @classmethod
    def open(cls, path: str, dim: int) -> Peer:
        return cls(path, dim, _store_class().open(path))

    @classmethod
    def open_recent(cls, path: str, dim: int) -> Peer:
        """``open(verify="recent")`` (a reference-store extension; plain open elsewhere)."""
        store_cls = _store_class()
        try:
            return cls(path, dim, store_cls.open(path, verify="recent"))
        except TypeError:
            return cls(path, dim, store_cls.open(path))

    def put(self, id: str, emb: Vec, content: bytes) -> None:
        self.store.put(id, emb, content)

    def get(self, id: str) -> tuple[Vec, bytes] | None:
        rec = self.store.get(id)
        return None if rec is None else (rec.embedding, rec.content)

    def remove(self, id: str) -> bool:
        return bool(self.store.remove(id))

    def scan(self) -> Iterator[Row]:
        for rec in self.store.scan():
            yield rec.id, rec.embedding, rec.content

    def search(self, query: Vec, k: int = 10) -> list[tuple[str, float]]:
        return list(self.store.search(query, k=k))

    def compact(self) -> None:
        self.store.compact()

    def flush(self) -> None:
        self.store.flush()

    def close(self) -> None:
        self.store.close()


class WarmtierBatched(Warmtier):
    """``put_many``/``get_many`` when the store offers them (a contract extension)."""

    name: ClassVar[str] = "warmtier (batched)"
    batched: ClassVar[bool] = True

    def put_many(self, rows: list[Row]) -> None:
        self.store.put_many(rows)


def variants() -> list[type[Peer]]:
    out: list[type[Peer]] = [Warmtier]
    if hasattr(_store_class(), "put_many"):
        out.append(WarmtierBatched)
    return out
