"""The model is the specification, so its own rules are stated here outright: the property
machines use it as the oracle and would inherit any mistake in it silently."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from warmtier import InvalidArgumentError, Record
from warmtier.model import ModelStore


@pytest.mark.parametrize("dim", [0, -1, True, 2.5, "3", None])
def test_the_model_refuses_a_bad_dim(dim: Any) -> None:
    with pytest.raises(InvalidArgumentError, match=f"dim must be a positive int; got {dim!r}"):
        ModelStore(dim=dim)


@pytest.mark.parametrize("batch_size", [0, -2, 1.0, "1", None, False])
def test_the_model_refuses_a_bad_batch_size(batch_size: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="batch_size must be a positive int"):
        list(ModelStore(dim=2).scan(batch_size=batch_size))


@pytest.mark.parametrize("batch_size", [1, 2, 3, 1024])
def test_the_model_scans_every_record_once_at_any_batch_size(batch_size: int) -> None:
    m = ModelStore(dim=2)
    for i in range(3):
        m.put(f"r{i}", [i, 1], b"x" * i)
    assert sorted(r.id for r in m.scan(batch_size=batch_size)) == ["r0", "r1", "r2"]


def test_the_model_ranks_by_cosine_then_id_with_zero_norm_scoring_zero() -> None:
    m = ModelStore(dim=2)
    for rid, emb in [("c", [-2, 0]), ("z", [0, 0]), ("b", [0, 3]), ("d", [1, 1]), ("a", [5, 0])]:
        m.put(rid, emb, b"")
    got = m.search([1, 0], k=5)
    assert [rid for rid, _ in got] == ["a", "d", "b", "z", "c"]
    assert [score for _, score in got] == pytest.approx([1.0, 2**-0.5, 0.0, 0.0, -1.0])
    assert m.search([1, 0], k=2) == got[:2]


def test_records_are_equal_only_when_every_field_is_bit_equal() -> None:
    base = Record("a", np.array([0.0, 1.0], np.float32), b"x", 0.5)
    assert base == Record("a", [0, 1], b"x", 0.5) and hash(base) == hash(Record("a", [0, 1], b"x", 0.5))
    for other in (
        Record("b", [0, 1], b"x", 0.5),
        Record("a", [0, 2], b"x", 0.5),
        Record("a", [-0.0, 1], b"x", 0.5),
        Record("a", [0, 1, 0], b"x", 0.5),
        Record("a", [0, 1], b"y", 0.5),
        Record("a", [0, 1], b"x", 0.25),
    ):
        assert base != other, f"{base!r} should differ from {other!r}"
    assert base.__eq__("a") is NotImplemented


def test_a_record_owns_a_read_only_copy_of_its_embedding() -> None:
    source = np.array([1.0, 2.0], np.float32)
    rec = Record("a", source, bytearray(b"x"), 1)
    source[0] = 9.0
    assert rec.embedding.tolist() == [1.0, 2.0]
    assert type(rec.content) is bytes and type(rec.confidence) is float
    with pytest.raises(ValueError):
        rec.embedding[0] = 3.0


def test_model_compaction_reports_nothing_reclaimed() -> None:
    m = ModelStore(dim=2)
    m.put("a", [1, 0], b"abc")
    stats = m.compact()
    assert (stats.bytes_before, stats.bytes_after, stats.bytes_reclaimed) == (3, 3, 0)
