"""Regressions for two contract rules the property machines hit only by chance.

Found by the bug zoo: ``reads_share_mapped_embedding`` (``get`` returned a view of the
mapped slot) and ``compact_drops_empty_records`` (compaction skipped records without
content) each escaped a full ``ci`` run of the property suite. The contract states both
outright, so they get a test that states them outright.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


def test_a_record_handed_out_never_changes_when_its_slot_is_reused(
    make_store: Callable[..., Any],
) -> None:
    store = make_store(dim=3)
    store.put("a", [1.0, 2.0, 3.0], b"old", confidence=0.25)
    rec = store.get("a")
    before = (rec.embedding.tobytes(), rec.content, rec.confidence)
    store.remove("a")
    store.flush()  # freed space becomes reusable at a durability point
    for i in range(16):
        store.put(f"b{i}", np.full(3, 9.0 + i), b"new", confidence=1.0)
    store.compact()
    after = (rec.embedding.tobytes(), rec.content, rec.confidence)
    assert after == before, f"a Record changed after it was handed out: {before} -> {after}"


def test_compaction_keeps_records_with_empty_content(make_store: Callable[..., Any]) -> None:
    store = make_store(dim=2)
    store.put("empty", [1.0, 0.0], b"")
    store.put("full", [0.0, 1.0], b"payload")
    store.put("gone", [1.0, 1.0], b"x" * 100)
    store.remove("gone")
    store.compact()
    rec = store.get("empty")
    assert rec is not None and rec.content == b"", (
        f"expected 'empty' with b'' after compact(); got {rec!r} (ids: {sorted(store.ids())})"
    )
    assert sorted(store.ids()) == ["empty", "full"]
