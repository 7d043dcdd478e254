"""Stores written in format 1 (crc32 slot checksums, by warmtier before XXH3) still open,
read, verify and take writes; compaction rewrites them in the current format."""

from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np
import pytest

from warmtier.errors import CorruptionError
from warmtier.format import FORMAT_VERSION
from warmtier.store import WarmTierStore

pytestmark = pytest.mark.reference_only

FIXTURE = Path(__file__).parent.parent / "data" / "format-v1-store.tar.gz"
#: What the fixture's writer put (``a`` replaced once, ``gone`` put and removed).
WRITTEN = {
    "a": ([1, 1, 0, 0], b"alpha-2", 0.5),
    "b": ([0, 1, 0, 0], "béta".encode(), 1.0),
    "c": ([0, 0, 1, 0], b"", 0.25),
}


@pytest.fixture
def v1_store(tmp_path: Path) -> Path:
    with tarfile.open(FIXTURE) as archive:
        archive.extractall(tmp_path, filter="data")
    return tmp_path / "v1store"


def _assert_holds_what_was_written(store: WarmTierStore) -> None:
    assert sorted(store.ids()) == sorted(WRITTEN), f"ids {sorted(store.ids())}"
    for id, (emb, content, conf) in WRITTEN.items():
        got = store.get(id)
        assert got is not None, f"{id!r} is missing"
        assert got.embedding.tolist() == emb and got.content == content, got
        assert got.confidence == conf, got


def test_a_format_1_store_opens_verified_and_reads_back_what_was_written(v1_store: Path) -> None:
    with WarmTierStore.open(v1_store) as store:
        assert store._header.version == 1, "the fixture is expected in format 1"
        _assert_holds_what_was_written(store)
        store.check()


def test_a_format_1_store_takes_writes_and_reopens_in_format_1(v1_store: Path) -> None:
    with WarmTierStore.open(v1_store) as store:
        store.put("d", np.array([1, 0, 1, 0], np.float32), b"delta", 0.125)
        store.remove("c")
    with WarmTierStore.open(v1_store) as store:
        assert store._header.version == 1
        assert store.get("d") is not None and store.get("c") is None
        store.check()


def test_compaction_rewrites_a_format_1_store_in_the_current_format(v1_store: Path) -> None:
    with WarmTierStore.open(v1_store) as store:
        store.compact()
        assert store._header.version == FORMAT_VERSION
        _assert_holds_what_was_written(store)
        store.check()
    with WarmTierStore.open(v1_store) as store:
        assert store._header.version == FORMAT_VERSION
        _assert_holds_what_was_written(store)


def test_a_flipped_content_byte_of_a_format_1_store_is_corruption(v1_store: Path) -> None:
    content = v1_store / "content.0"
    data = bytearray(content.read_bytes())
    data[data.index(b"alpha-2")] ^= 0xFF
    content.write_bytes(bytes(data))
    with pytest.raises(CorruptionError):
        WarmTierStore.open(v1_store).close()
