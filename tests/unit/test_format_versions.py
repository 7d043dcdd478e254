"""Stores written in older formats still open, read, verify and take writes in their own
format; compaction rewrites them in the current one. Format 1 (crc32 slot checksums) and
format 2 (XXH3) keep each embedding inside its slot; format 3 moved them to a file of
their own."""

from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np
import pytest

from warmtier.errors import CorruptionError
from warmtier.format import FORMAT_VERSION, HEADER_SIZE, SLOT_FIXED, slot_dtype
from warmtier.store import WarmTierStore

pytestmark = pytest.mark.reference_only

DATA = Path(__file__).parent.parent / "data"
#: Format version -> the archive holding a store its writer made (the directory inside is
#: named ``v<version>store``).
FIXTURES = {1: DATA / "format-v1-store.tar.gz", 2: DATA / "format-v2-store.tar.gz"}
#: What each fixture's writer put (``a`` replaced once, ``gone`` put and removed).
WRITTEN = {
    "a": ([1, 1, 0, 0], b"alpha-2", 0.5),
    "b": ([0, 1, 0, 0], "béta".encode(), 1.0),
    "c": ([0, 0, 1, 0], b"", 0.25),
}


@pytest.fixture(params=sorted(FIXTURES), ids=lambda v: f"format{v}")
def old_store(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, int]:
    version: int = request.param
    with tarfile.open(FIXTURES[version]) as archive:
        archive.extractall(tmp_path, filter="data")
    return tmp_path / f"v{version}store", version


def _assert_holds_what_was_written(store: WarmTierStore) -> None:
    assert sorted(store.ids()) == sorted(WRITTEN), f"ids {sorted(store.ids())}"
    for id, (emb, content, conf) in WRITTEN.items():
        got = store.get(id)
        assert got is not None, f"{id!r} is missing"
        assert got.embedding.tolist() == emb and got.content == content, got
        assert got.confidence == conf, got
    assert [id for id, _ in store.search([0, 0, 1, 0], k=1)] == ["c"]


def test_an_old_store_opens_verified_and_reads_back_what_was_written(
        old_store: tuple[Path, int]) -> None:
    path, version = old_store
    with WarmTierStore.open(path) as store:
        assert store._header.version == version, f"the fixture is expected in format {version}"
        _assert_holds_what_was_written(store)
        store.check()


def test_an_old_store_takes_writes_and_reopens_in_its_own_format(
        old_store: tuple[Path, int]) -> None:
    path, version = old_store
    with WarmTierStore.open(path) as store:
        store.put("d", np.array([1, 0, 1, 0], np.float32), b"delta", 0.125)
        store.remove("c")
        for i in range(8):  # past the fixture's capacity: the slots file grows
            store.put(f"e{i}", np.array([i, 1, 0, 0], np.float32), b"e")
    with WarmTierStore.open(path) as store:
        assert store._header.version == version
        assert store.get("c") is None
        got = store.get("d")
        assert got is not None and got.embedding.tolist() == [1, 0, 1, 0]
        assert store.get("e7") is not None
        assert sorted(p.name for p in path.iterdir()) == ["CURRENT", "LOCK", "content.0",
                                                          "slots.0"]
        store.check()


def test_an_old_store_takes_a_put_many_record_by_record_in_its_own_format(
        old_store: tuple[Path, int]) -> None:
    path, version = old_store
    batch = [("a", np.array([2, 0, 0, 0], np.float32), b"alpha-3", 0.75),  # a replacement
             *((f"m{i}", np.array([0, 0, i, 1], np.float32), b"m" * i, 1.0) for i in range(9))]
    with WarmTierStore.open(path) as store:
        store.put_many(batch)  # past the fixture's capacity: the slots file grows
        store.check()
    with WarmTierStore.open(path) as store:
        assert store._header.version == version
        for id, emb, content, conf in batch:
            got = store.get(id)
            assert got is not None and got.embedding.tolist() == emb.tolist(), (id, got)
            assert (got.content, got.confidence) == (content, conf), (id, got)
        store.check()


def test_compaction_rewrites_an_old_store_in_the_current_format(
        old_store: tuple[Path, int]) -> None:
    path, _ = old_store
    with WarmTierStore.open(path) as store:
        store.compact()
        assert store._header.version == FORMAT_VERSION
        _assert_holds_what_was_written(store)
        store.check()
    with WarmTierStore.open(path) as store:
        assert store._header.version == FORMAT_VERSION
        _assert_holds_what_was_written(store)
        store.put("d", np.array([1, 0, 1, 0], np.float32), b"delta")
        store.check()


def test_a_flipped_content_byte_of_an_old_store_is_corruption(
        old_store: tuple[Path, int]) -> None:
    path, _ = old_store
    content = path / "content.0"
    data = bytearray(content.read_bytes())
    data[data.index(b"alpha-2")] ^= 0xFF
    content.write_bytes(bytes(data))
    with pytest.raises(CorruptionError):
        WarmTierStore.open(path).close()


def test_a_flipped_embedding_byte_inside_an_old_store_slot_is_corruption(
        old_store: tuple[Path, int]) -> None:
    path, version = old_store
    slots = path / "slots.0"
    data = bytearray(slots.read_bytes())
    size = slot_dtype(4, version).itemsize
    for slot in range((len(data) - HEADER_SIZE) // size):  # every embedding's first float
        data[HEADER_SIZE + slot * size + SLOT_FIXED + 3] ^= 0x01
    slots.write_bytes(bytes(data))
    with pytest.raises(CorruptionError, match="fail their checksum"):
        WarmTierStore.open(path).close()
