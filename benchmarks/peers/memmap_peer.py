"""The floor for any mmap design: a numpy memmap matrix of embeddings plus a bytes arena,
a dict index in memory saved at close. No checksums, no crash safety, no locking; bump
allocation (freed content is garbage until ``compact``), freed rows reused."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from benchmarks.peers.base import Peer, Row, Vec, top_k


class MemmapArena(Peer):
    name: ClassVar[str] = "numpy memmap"
    family: ClassVar[str] = "memmap"

    def __init__(self, path: str, dim: int, capacity: int, arena: int) -> None:
        super().__init__(path, dim)
        self.capacity = capacity
        self.arena_size = arena
        self.index: dict[str, int] = {}
        self.row_ids: list[str | None] = [None] * capacity
        self.offs = np.zeros(capacity, np.int64)
        self.lens = np.zeros(capacity, np.int64)
        self.norms = np.zeros(capacity, np.float32)
        self.live = np.zeros(capacity, bool)
        self.free_rows: list[int] = []
        self.next_row = 0
        self.tail = 0
        self._map()

    def _map(self) -> None:
        emb_path, arena_path = f"{self.path}/emb.f32", f"{self.path}/content.bin"
        for p, size in ((emb_path, self.capacity * self.dim * 4), (arena_path, self.arena_size)):
            with open(p, "a+b") as f:
                if os.fstat(f.fileno()).st_size < size:
                    f.truncate(size)
        self.mat: Any = np.memmap(emb_path, np.float32, "r+", shape=(self.capacity, self.dim))
        self.arena: Any = np.memmap(arena_path, np.uint8, "r+", shape=(self.arena_size,))

    @classmethod
    def version(cls) -> str:
        return f"numpy {np.__version__}"

    @classmethod
    def create(cls, path: str, dim: int) -> Peer:
        os.makedirs(path, exist_ok=True)
        return cls(path, dim, 1024, 1 << 20)

    @classmethod
    def open(cls, path: str, dim: int) -> Peer:
        meta = json.loads(Path(f"{path}/meta.json").read_text())
        peer = cls.__new__(cls)
        Peer.__init__(peer, path, dim)
        peer.capacity, peer.arena_size = meta["capacity"], meta["arena"]
        peer.next_row, peer.tail = meta["next_row"], meta["tail"]
        arrays = np.load(f"{path}/index.npz")
        peer.offs, peer.lens = arrays["offs"].copy(), arrays["lens"].copy()
        peer.norms, peer.live = arrays["norms"].copy(), arrays["live"].copy()
        names = Path(f"{path}/ids.txt").read_text(encoding="utf-8").split("\n")
        rows = np.flatnonzero(peer.live).tolist()
        peer.row_ids = [None] * peer.capacity
        for row, name in zip(rows, names, strict=False):
            peer.row_ids[row] = name
        peer.index = dict(zip(names, rows, strict=False))
        dead = np.flatnonzero(~peer.live[: peer.next_row]).tolist()
        peer.free_rows = dead
        peer._map()
        return peer

    def _grow_rows(self) -> None:
        self.mat.flush()
        old = self.capacity
        self.capacity *= 2
        self.row_ids += [None] * old
        for name in ("offs", "lens", "norms", "live"):
            a = getattr(self, name)
            setattr(self, name, np.concatenate([a, np.zeros_like(a)]))
        del self.mat
        self._map()

    def _grow_arena(self, need: int) -> None:
        while self.arena_size < self.tail + need:
            self.arena_size *= 2
        self.arena.flush()
        del self.arena
        self._map()

    def put(self, id: str, emb: Vec, content: bytes) -> None:
        row = self.index.get(id)
        if row is None:
            if self.free_rows:
                row = self.free_rows.pop()
            else:
                if self.next_row == self.capacity:
                    self._grow_rows()
                row = self.next_row
                self.next_row += 1
        n = len(content)
        if self.tail + n > self.arena_size:
            self._grow_arena(n)
        self.mat[row] = emb
        off = self.tail
        self.arena[off : off + n] = np.frombuffer(content, np.uint8)
        self.tail += n
        self.offs[row], self.lens[row] = off, n
        self.norms[row] = np.linalg.norm(emb)
        self.live[row] = True
        self.index[id] = row
        self.row_ids[row] = id

    def get(self, id: str) -> tuple[Vec, bytes] | None:
        row = self.index.get(id)
        if row is None:
            return None
        off = int(self.offs[row])
        return np.array(self.mat[row]), self.arena[off : off + int(self.lens[row])].tobytes()

    def remove(self, id: str) -> bool:
        row = self.index.pop(id, None)
        if row is None:
            return False
        self.live[row] = False
        self.row_ids[row] = None
        self.free_rows.append(row)
        return True

    def scan(self) -> Iterator[Row]:
        mat, arena, offs, lens = self.mat, self.arena, self.offs, self.lens
        for id, row in list(self.index.items()):
            off = int(offs[row])
            yield id, np.array(mat[row]), arena[off : off + int(lens[row])].tobytes()

    def search(self, query: Vec, k: int = 10) -> list[tuple[str, float]]:
        hi = self.next_row
        q = query.astype(np.float32) / np.float32(np.linalg.norm(query))
        with np.errstate(divide="ignore", invalid="ignore"):
            scores = (np.asarray(self.mat[:hi]) @ q) / self.norms[:hi]
        scores = np.where(self.live[:hi], np.nan_to_num(scores, nan=0.0), -np.inf)
        k = min(k, len(self.index))
        part: npt.NDArray[np.intp] = np.argpartition(-scores, k - 1)[:k]
        ids = [self.row_ids[i] or "" for i in part.tolist()]
        return top_k(ids, scores[part].astype(np.float64), k)

    def compact(self) -> None:
        rows = np.array(sorted(self.index.values()), dtype=np.int64)
        new_arena = np.empty(int(self.lens[rows].sum()), np.uint8)
        pos = 0
        for r in rows.tolist():
            off, n = int(self.offs[r]), int(self.lens[r])
            new_arena[pos : pos + n] = self.arena[off : off + n]
            self.offs[r] = pos
            pos += n
        n_live = len(rows)
        ids = [self.row_ids[r] for r in rows.tolist()]
        self.mat[:n_live] = self.mat[rows]
        for name in ("offs", "lens", "norms"):
            a = getattr(self, name)
            a[:n_live] = a[rows]
        self.live[:] = False
        self.live[:n_live] = True
        self.row_ids = [None] * self.capacity
        for r, id in enumerate(ids):
            assert id is not None
            self.row_ids[r] = id
            self.index[id] = r
        self.free_rows, self.next_row = [], n_live
        self.capacity = max(1024, n_live)
        self.arena_size = max(1 << 20, pos)
        self.row_ids = self.row_ids[: self.capacity]
        for name in ("offs", "lens", "norms", "live"):
            setattr(self, name, getattr(self, name)[: self.capacity].copy())
        self.mat.flush()
        del self.mat, self.arena
        os.truncate(f"{self.path}/emb.f32", self.capacity * self.dim * 4)
        os.truncate(f"{self.path}/content.bin", self.arena_size)
        self._map()
        self.arena[:pos] = new_arena
        self.tail = pos

    def flush(self) -> None:
        self.mat.flush()
        self.arena.flush()

    def close(self) -> None:
        self.flush()
        rows = np.flatnonzero(self.live)
        with open(f"{self.path}/ids.txt", "w", encoding="utf-8") as f:
            f.write("\n".join(self.row_ids[r] or "" for r in rows.tolist()))
        np.savez(f"{self.path}/index.npz", offs=self.offs, lens=self.lens, norms=self.norms,
                 live=self.live)
        with open(f"{self.path}/meta.json", "w") as f:
            json.dump({"capacity": self.capacity, "arena": self.arena_size,
                       "next_row": self.next_row, "tail": self.tail}, f)
        del self.mat, self.arena
