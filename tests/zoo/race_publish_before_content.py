"""Put points the id at its new slot before the slot body (embedding, checksum) is
written, and ``get`` reads optimistically without the lock (look up the slot, read it,
retry if the id moved meanwhile), trusting put to publish last.

Invisible to one thread; a ``get`` that lands in the short window between the publish
and the slot write (a failpoint call and one copy) returns the new content with the
slot's old embedding: a mixed record. A panic at ``put.before_publish`` leaves the id
pointing at a slot that was given back.
"""

from __future__ import annotations

from tests.zoo._support import patch
from warmtier.store import WarmTierStore

CATEGORY = "concurrency"
CAUGHT_BY = ("concurrency",)


@patch(
    "get",
    old="""
        with self._lock:
            if not self._closed:
                i = self._index.get(id)
                if i is not None:
                    return self._read(i, id)
    """,
    new="""
        while not self._closed:  # optimistic, without the lock: "put publishes last"
            i = self._index.get(id)
            if i is None:
                return None
            try:
                record = self._read(i, id)
            except (IndexError, ValueError):
                continue
            if self._index.get(id) == i:  # the id did not move while we read
                return record
    """,
)
@patch(
    "_put_locked",
    old="seq = self._write(slot, raw_id, emb, data, conf, norm, off)",
    new="""
        replaced = self._index.get(id)
        self._table.fill(slot, id, off, len(data), norm, conf)
        self._index[id] = slot  # BUG: the id points at the new slot before its body is written
        seq = self._write(slot, raw_id, emb, data, conf, norm, off)
    """,
)
@patch(
    "_put_locked",
    old="self._remember(id, slot, off, len(data), norm, conf)",
    new="""
        if replaced is None:
            del self._index[id]
        else:
            self._index[id] = replaced
        self._remember(id, slot, off, len(data), norm, conf)
    """,
)
class PublishBeforeContentStore(WarmTierStore):
    """Reference store whose put makes the record visible before its slot is written."""
