"""Self-describing record values for races: any record read back can be checked for wholeness.

Each value encodes (id, writer, sequence number, size) in its content; its embedding and
confidence are derived from the same tuple. A record read during a race is *whole* when
it equals exactly the value one put wrote: never torn, never mixed from two puts.

>>> from warmtier.model import ModelStore
>>> store = ModelStore(dim=DIM)
>>> put(store, "a", writer=3, seq=9, size=100)
>>> whole(store.get("a"), "a") is None
True
>>> origin(store.get("a"))
('a', 3, 9, 100)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from warmtier.records import Embedding, Record

__all__ = ["DIM", "check_store", "expected", "origin", "put", "value", "whole"]

DIM = 8
"""The embedding length the race scenarios use."""


def value(id: str, writer: int, seq: int, size: int = 48) -> tuple[Embedding, bytes, float]:
    """The (embedding, content, confidence) that ``writer`` puts as its ``seq``-th value.

    The content is at least its header long, else exactly ``size`` bytes.
    """
    header = f"{id}|{writer}|{seq}|{size}|".encode()
    fill = bytes([(writer * 31 + seq) % 251 + 1])
    content = header + fill * max(0, size - len(header))
    embedding = np.arange(DIM, dtype=np.float32) + np.float32(writer * 10_000 + seq)
    embedding[seq % DIM] = -embedding[seq % DIM]
    confidence = ((writer * 7 + seq) % 100) / 100.0
    return embedding, content, confidence


def put(store: Any, id: str, writer: int, seq: int, size: int = 48) -> None:
    """Put the value ``value(id, writer, seq, size)`` under ``id``."""
    emb, content, conf = value(id, writer, seq, size)
    store.put(id, emb, content, conf)


def expected(id: str, writer: int, seq: int, size: int = 48) -> Record:
    """The record a store must return after ``put(store, id, writer, seq, size)``."""
    emb, content, conf = value(id, writer, seq, size)
    return Record(id, emb, content, conf)


def origin(record: Any) -> tuple[str, int, int, int] | None:
    """(id, writer, seq, size) parsed from a record's content, or None if unparsable."""
    try:
        rid, writer, seq, size, _ = bytes(record.content).split(b"|", 4)
        return rid.decode(), int(writer), int(seq), int(size)
    except ValueError:
        return None


def whole(record: Any, id: str | None = None) -> str | None:
    """``None`` if ``record`` is exactly some put's value (for ``id`` if given), else why not."""
    if id is not None and record.id != id:
        return f"asked for {id!r}, got a record of {record.id!r}"
    found = origin(record)
    if found is None:
        return f"content {bytes(record.content)[:40]!r} is no put's value (torn?)"
    if found[0] != record.id:
        return f"record {record.id!r} holds content written for {found[0]!r}"
    want = expected(*found)
    got = Record(record.id, record.embedding, record.content, record.confidence)
    if got != want:
        fields = [
            name
            for name, same in (
                ("content", got.content == want.content),
                ("embedding", got.embedding.tobytes() == want.embedding.tobytes()),
                ("confidence", np.float32(got.confidence) == np.float32(want.confidence)),
            )
            if not same
        ]
        return (
            f"record {record.id!r} is not whole: its content is writer {found[1]}'s put "
            f"#{found[2]} but its {' and '.join(fields)} differ: expected {want!r} with "
            f"embedding {want.embedding.tolist()}, got {got!r} with embedding "
            f"{got.embedding.tolist()}"
        )
    return None


def check_store(store: Any) -> None:
    """``store.check()`` if the store has one (it is optional for other stores)."""
    checker = getattr(store, "check", None)
    if callable(checker):
        checker()
