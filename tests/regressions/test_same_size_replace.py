"""Regression: replacing a record with content of the same length returns the new bytes.

Found by the bug zoo (``replace_same_size_reads_old_extent``: a same-size replacement
kept reading the old extent): the property machine draws an equal-length replacement only
by chance, and one run of the gate let the bug escape.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def test_a_same_length_replacement_reads_back_the_new_content(
    make_store: Callable[..., Any],
) -> None:
    store = make_store(dim=2)
    store.put("a", [1.0, 0.0], b"old!")
    store.put("b", [0.0, 1.0], b"keep")
    store.put("a", [0.5, 0.5], b"new!", confidence=0.5)
    for when in ("before flush", "after flush"):
        rec = store.get("a")
        assert rec is not None and rec.content == b"new!" and rec.confidence == 0.5, (
            f"{when}: expected 'a' = b'new!' (confidence 0.5); got {rec!r}"
        )
        store.flush()
    assert store.get("b").content == b"keep"
