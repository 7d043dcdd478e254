"""Regressions of the store machine's batch rules, run step by step on the reference store."""

from __future__ import annotations

from pathlib import Path

import pytest

from warmtier.store import WarmTierStore
from warmtier.testing.properties.store_machine import store_machine

pytestmark = pytest.mark.reference_only

ONES = [1.0, 1.0, 1.0, 1.0]


def test_a_put_many_stopped_by_max_slots_after_a_repeated_record_is_a_prefix(
        tmp_path: Path) -> None:
    """Found by the gate: the batch's third record repeats its first and needs a fourth
    slot the limit refuses; the store holds the first two (a prefix), which the machine
    must accept although the state after two and after three records look alike."""
    machine = store_machine(WarmTierStore, dim=4, workdir=str(tmp_path))()
    try:
        machine.create(options={"initial_capacity": 1, "initial_content_bytes": 1,
                                "max_content": 70_000, "max_slots": 4,
                                "max_content_bytes": 8192})
        machine.grow(count=2, size=0, seed=0, same_embedding=False)
        machine.put_many(drawn=[("0", ONES, b"", 1.0), ("00", ONES, b"", 1.0),
                                ("0", ONES, b"", 1.0)], shape="tuple")
        machine.agrees_with_model()
        assert len(machine.model) == 4, "the machine's model did not take the prefix"
    finally:
        machine.teardown()
