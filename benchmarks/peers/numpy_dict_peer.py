"""The in-memory ceiling: a dict of id -> (numpy embedding, content bytes). Nothing
persists; search stacks the embeddings for each query (a dict has no matrix)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

import numpy as np

from benchmarks.peers.base import Peer, Row, Vec, cosine, top_k


class NumpyDict(Peer):
    name: ClassVar[str] = "dict of numpy"
    family: ClassVar[str] = "dict"
    persistent: ClassVar[bool] = False

    def __init__(self, path: str, dim: int) -> None:
        super().__init__(path, dim)
        self.data: dict[str, tuple[Vec, bytes]] = {}

    @classmethod
    def version(cls) -> str:
        return f"numpy {np.__version__}"

    @classmethod
    def create(cls, path: str, dim: int) -> Peer:
        return cls(path, dim)

    def put(self, id: str, emb: Vec, content: bytes) -> None:
        self.data[id] = (np.array(emb, dtype=np.float32), content)

    def get(self, id: str) -> tuple[Vec, bytes] | None:
        return self.data.get(id)

    def remove(self, id: str) -> bool:
        return self.data.pop(id, None) is not None

    def scan(self) -> Iterator[Row]:
        for id, (emb, content) in list(self.data.items()):
            yield id, emb, content

    def search(self, query: Vec, k: int = 10) -> list[tuple[str, float]]:
        ids = list(self.data)
        matrix = np.stack([e for e, _ in self.data.values()])
        return top_k(ids, cosine(matrix, query), k)

    def file_bytes(self) -> int | None:
        return None
