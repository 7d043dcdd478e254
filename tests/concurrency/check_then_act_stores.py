"""Stores with the races foreign stores have and no failpoints to stop at: a check-then-act
``remove``, a ``put`` that other threads see only later, a search index updated outside
the lock. Each is the model store (linearizable by one lock) with one patch; the
concurrency suite must catch each running free (``--warmtier-store=tests.concurrency.
check_then_act_stores:CheckThenActRemove``, for instance).
"""

from __future__ import annotations

import threading
import time
from typing import Any, ClassVar

import numpy as np

from warmtier.model import ModelStore
from warmtier.records import Record
from warmtier.validation import (
    validate_confidence,
    validate_content,
    validate_embedding,
    validate_id,
    validate_k,
    validate_query,
)


class CheckThenActRemove(ModelStore):
    """``remove`` asks whether the id is there, then deletes it, in two steps (a
    connection per thread: ``SELECT`` then ``DELETE``). Two removes of one id can both
    return True; a remove that found nothing can delete a put made in between."""

    failpoint_names: ClassVar[tuple[str, ...]] = ()

    def remove(self, id: str) -> bool:
        present = id in self  # SELECT 1 FROM records WHERE id = ?
        time.sleep(0)  # the GIL goes to another thread: another connection runs here
        super().remove(id)  # DELETE FROM records WHERE id = ?
        return present


class DeferredCommitPut(ModelStore):
    """``put`` is committed by the calling thread's NEXT call (a connection per thread
    whose transaction stays open): it returns, and other threads still read the old
    value; the writer reads its own write."""

    failpoint_names: ClassVar[tuple[str, ...]] = ()

    def _deferred(self) -> dict[int, Record]:
        table: dict[int, Record] = self.__dict__.setdefault("_pending_puts", {})
        return table

    def _live(self) -> dict[str, Record]:
        records = super()._live()
        pending = self._deferred().pop(threading.get_ident(), None)
        if pending is not None:  # COMMIT of this thread's open transaction
            records[pending.id] = pending
        return records

    def put(self, id: str, embedding: Any, content: bytes | str, confidence: float = 1.0) -> None:
        with self._lock:
            self._live()
            validate_id(id)
            record = Record(id, validate_embedding(embedding, self.dim),
                            validate_content(content, self._state.max_content),
                            validate_confidence(confidence))
            self._deferred()[threading.get_ident()] = record  # not committed yet


class StaleSearchStore(ModelStore):
    """``search`` scores against an index (vectors and their norms) that ``put`` and
    ``remove`` update after the record, outside the lock: a search in between sees a
    new vector with an old norm (a score no state gives) or a removed record."""

    failpoint_names: ClassVar[tuple[str, ...]] = ()

    def _index(self) -> tuple[dict[str, np.ndarray[Any, Any]], dict[str, float]]:
        index: tuple[dict[str, np.ndarray[Any, Any]], dict[str, float]] = (
            self.__dict__.setdefault("_search_index", ({}, {}))
        )
        return index

    def put(self, id: str, embedding: Any, content: bytes | str, confidence: float = 1.0) -> None:
        super().put(id, embedding, content, confidence)
        vectors, norms = self._index()
        vector = validate_embedding(embedding, self.dim).astype(np.float64)
        vectors[id] = vector
        time.sleep(0)  # the index is half updated: new vector, old norm
        norms[id] = float(np.linalg.norm(vector))

    def remove(self, id: str) -> bool:
        found = super().remove(id)
        vectors, norms = self._index()
        time.sleep(0)  # the record is gone, the index still has it
        vectors.pop(id, None)
        norms.pop(id, None)
        return found

    def search(self, query: Any, k: int = 10) -> list[tuple[str, float]]:
        with self._lock:
            self._live()
            q = validate_query(query, self.dim).astype(np.float64)
            k = validate_k(k)
        vectors, norms = self._index()
        qn = float(np.linalg.norm(q))
        scored = []
        for rid in list(vectors):
            vector, norm = vectors.get(rid), norms.get(rid)
            if vector is None or norm is None:
                continue
            scored.append((rid, 0.0 if norm == 0.0 else float(np.dot(q, vector) / (qn * norm))))
        scored.sort(key=lambda pair: (-pair[1], pair[0]))
        return scored[:k]
