"""The reference store's file format: round trip, and CorruptionError for every bad file.

A corrupt directory must give CorruptionError from ``open()`` (or a store whose
``check()`` passes), never an IndexError, struct.error or a crash.
"""

from __future__ import annotations

import os
import random
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from warmtier import CorruptionError, WarmTierStore
from warmtier.format import (
    _HEADER,
    _HEADER_CRC,
    FORMAT_VERSION,
    HEADER_SIZE,
    MAGIC,
    MAX_DIM,
    Header,
    read_current,
    slot_checksum,
    slot_dtype,
    write_current,
)

pytestmark = pytest.mark.reference_only


def populated(path: Path, n: int = 40) -> dict[str, bytes]:
    expected = {}
    with WarmTierStore.create(path, dim=4, initial_capacity=8, initial_content_bytes=0) as s:
        for i in range(n):
            content = f"content-{i}-".encode() * (i % 7)
            s.put(f"id-{i}", [i, -0.0, 1e-45, 3.0e38], content, i / n)
            expected[f"id-{i}"] = content
    return expected


def test_header_round_trips() -> None:
    h = Header(dim=768, slot_size=slot_dtype(768).itemsize, max_content=123, flushed_seq=5,
               seq_floor=9, gen=3, max_slots=10, max_arena_bytes=4096)
    raw = h.pack()
    assert len(raw) == HEADER_SIZE
    assert Header.unpack(raw, "x") == h


def test_current_round_trips(tmp_path: Path) -> None:
    write_current(str(tmp_path), 42)
    assert read_current(str(tmp_path)) == 42


def test_records_round_trip_bit_exact_through_close_and_open(tmp_path: Path) -> None:
    expected = populated(tmp_path / "s")
    with WarmTierStore.open(tmp_path / "s") as s:
        s.check()
        for rid, content in expected.items():
            rec = s.get(rid)
            assert rec is not None and rec.content == content
            assert np.signbit(rec.embedding[1]) and rec.embedding[2] == np.float32(1e-45)
            assert rec.embedding[3] == np.float32(3.0e38)


def _slots(path: Path) -> Path:
    return path / f"slots.{read_current(str(path))}"


def _content(path: Path) -> Path:
    return path / f"content.{read_current(str(path))}"


def _embeddings(path: Path) -> Path:
    return path / f"embeddings.{read_current(str(path))}"


def _cut(f: Path, size: int) -> None:
    f.write_bytes(f.read_bytes()[:size])


def _rewrite_header(path: Path, **fields: int) -> None:
    f = _slots(path)
    raw = bytearray(f.read_bytes())
    h = Header.unpack(bytes(raw[:HEADER_SIZE]), "test")
    values = {**h.__dict__, **fields}
    raw[:HEADER_SIZE] = Header(**values).pack()
    f.write_bytes(bytes(raw))


CORRUPTIONS = {
    "truncated_slots_file": lambda p: _slots(p).write_bytes(_slots(p).read_bytes()[:100]),
    "slots_file_cut_mid_slot": lambda p: _slots(p).write_bytes(_slots(p).read_bytes()[:-7]),
    "empty_slots_file": lambda p: _slots(p).write_bytes(b""),
    "slots_file_of_zeros": lambda p: _slots(p).write_bytes(bytes(_slots(p).stat().st_size)),
    "wrong_magic": lambda p: _slots(p).write_bytes(b"NOTASTOR" + _slots(p).read_bytes()[8:]),
    "future_format_version": lambda p: _rewrite_header(p, version=99),
    # Found by the file fuzzer: open() accepted it and the next put died in struct.pack.
    "sequence_floor_beyond_reach": lambda p: _rewrite_header(p, seq_floor=2**64 - 1),
    "header_checksum_broken": lambda p: _patch(_slots(p), 20, b"\xff\xff"),
    "random_bytes_everywhere": lambda p: _slots(p).write_bytes(
        random.Random(1).randbytes(_slots(p).stat().st_size)),
    "missing_current": lambda p: (p / "CURRENT").unlink(),
    "garbage_current": lambda p: (p / "CURRENT").write_bytes(b"\x00\xffnot a generation"),
    "current_names_missing_generation": lambda p: write_current(str(p), 7),
    "missing_content_file": lambda p: _content(p).unlink(),
    "empty_content_file": lambda p: _content(p).write_bytes(b""),
    "content_byte_flipped": lambda p: _flip(_content(p), 30),
    "slot_body_bit_flipped": lambda p: _flip(_slots(p), HEADER_SIZE + 400),
    "embedding_bit_flipped": lambda p: _flip(_embeddings(p), 30),
    "missing_embeddings_file": lambda p: _embeddings(p).unlink(),
    "embeddings_file_cut_mid_row": lambda p: _cut(_embeddings(p), 4 * 4 * 3 + 5),
    "embeddings_file_cut": lambda p: _cut(_embeddings(p), 4 * 4 * 3),
    "slot_id_bit_flipped": lambda p: _flip(_slots(p), HEADER_SIZE + 50),
    "slot_offset_points_outside_arena": lambda p: _patch(_slots(p), HEADER_SIZE + 16,
                                                          struct.pack("<Q", 2**40)),
    "dim_changed": lambda p: _rewrite_header(p, dim=5),
    "dim_changed_in_a_format_2_header": lambda p: _rewrite_header(p, dim=5, version=2),
}


# What each corruption's error message must say, beside the store's path.
SAYS = {
    "truncated_slots_file": "100 bytes is not a header plus whole slots",
    "slots_file_cut_mid_slot": "is not a header plus whole slots",
    "empty_slots_file": "header is 0 bytes, shorter than",
    "slots_file_of_zeros": "bad magic",
    "wrong_magic": "bad magic b'NOTASTOR'; this is not a warmtier store",
    "future_format_version": f"format version 99 is newer than this library's {FORMAT_VERSION}",
    "sequence_floor_beyond_reach": "beyond any reachable count",
    "header_checksum_broken": "header checksum mismatch",
    "random_bytes_everywhere": "bad magic",
    "missing_current": "no CURRENT file; not a warmtier store",
    "garbage_current": "does not parse as a generation number",
    "current_names_missing_generation": "CURRENT names generation 7 but slots.7 is missing",
    "missing_content_file": "but content.0 is missing",
    "empty_content_file": "written before the last flush fail their checksum",
    "content_byte_flipped": "1 slot(s) written before the last flush fail their checksum",
    "slot_body_bit_flipped": "1 slot(s) written before the last flush fail",
    "embedding_bit_flipped": "1 slot(s) written before the last flush fail",
    "missing_embeddings_file": "but embeddings.0 is missing",
    "embeddings_file_cut_mid_row": "53 bytes is not whole embeddings of 16 bytes (dim 4)",
    "embeddings_file_cut": "hold 3 embeddings for",
    "slot_id_bit_flipped": "1 slot(s) written before the last flush fail",
    "slot_offset_points_outside_arena": "1 slot(s) written before the last flush fail",
    "dim_changed": "is not whole embeddings of 20 bytes (dim 5)",
    "dim_changed_in_a_format_2_header": "slot size 304 does not match dim 5",
}


def _header_bytes(**fields: int) -> bytes:
    """A header packed field by field, so that any field can be made wrong."""
    good = Header(dim=4, slot_size=slot_dtype(4).itemsize, max_content=1 << 20)
    values = {"magic": MAGIC, "version": FORMAT_VERSION, "dim": 4,
              "slot_size": good.slot_size, "header_size": HEADER_SIZE,
              "max_content": good.max_content, "flushed_seq": 3, "seq_floor": 3, "gen": 0,
              "max_slots": 0, "max_arena": 0, **fields}
    body = _HEADER.pack(*values.values())
    return body + _HEADER_CRC.pack(zlib.crc32(body))


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"magic": b"WARMTIEX"}, "h: bad magic b'WARMTIEX'; this is not a warmtier store"),
        ({"version": FORMAT_VERSION + 1},
         f"h: format version {FORMAT_VERSION + 1} is newer than this library's "
         f"{FORMAT_VERSION}; upgrade warmtier to open it"),
        ({"version": 0}, "h: invalid format version 0"),
        ({"dim": 0}, "h: invalid dim 0"),
        ({"dim": MAX_DIM + 1}, f"h: invalid dim {MAX_DIM + 1}"),
        ({"header_size": HEADER_SIZE - 1}, f"h: header size {HEADER_SIZE - 1} != {HEADER_SIZE}"),
        ({"slot_size": 100}, "h: slot size 100 does not match dim 4"),
        ({"flushed_seq": 4}, "h: flushed seq 4 > seq floor 3"),
    ],
    ids=lambda v: str(v)[:30],
)
def test_each_bad_header_field_is_named(fields: dict[str, object], says: str) -> None:
    with pytest.raises(CorruptionError) as info:
        Header.unpack(_header_bytes(**fields), "h")
    assert str(info.value) == says


def test_a_header_at_the_edges_of_every_range_is_accepted() -> None:
    raw = _header_bytes(dim=MAX_DIM, slot_size=slot_dtype(MAX_DIM).itemsize, flushed_seq=3,
                        seq_floor=3, version=FORMAT_VERSION)
    h = Header.unpack(raw + bytes(HEADER_SIZE - len(raw)), "h")
    assert (h.dim, h.flushed_seq, h.seq_floor) == (MAX_DIM, 3, 3)
    assert Header.unpack(h.pack(), "h") == h
    assert Header.unpack(raw, "h") == h, "the header needs only its fields and crc"
    with pytest.raises(CorruptionError, match=f"header is {len(raw) - 1} bytes, shorter than"):
        Header.unpack(raw[:-1], "h")


def _patch(f: Path, at: int, data: bytes) -> None:
    raw = bytearray(f.read_bytes())
    raw[at : at + len(data)] = data
    f.write_bytes(bytes(raw))


def _flip(f: Path, at: int) -> None:
    raw = bytearray(f.read_bytes())
    raw[at] ^= 0x10
    f.write_bytes(bytes(raw))


@pytest.mark.parametrize("name", sorted(CORRUPTIONS))
def test_corrupt_files_give_corruption_error_never_a_traceback(tmp_path: Path, name: str) -> None:
    path = tmp_path / "s"
    populated(path)
    CORRUPTIONS[name](path)
    with pytest.raises(CorruptionError) as info:
        WarmTierStore.open(path)
    message = str(info.value)
    assert message.startswith(str(path)) and SAYS[name] in message, (
        f"{name}: the error should name the store and say {SAYS[name]!r}; it said {message!r}"
    )
    listed = info.value.violations
    if "slot(s)" in message:  # one line per damaged slot
        assert len(listed) == int(message.split(": ")[-1].split()[0]) and all(
            v.endswith("fails its checksum or bounds") for v in listed), listed
    else:
        assert listed == [message]
    # The failed open released the lock: a repaired store could be opened again.
    assert not any(n.startswith("CURRENT.tmp") for n in os.listdir(path))


@pytest.mark.parametrize("name", sorted(CORRUPTIONS))
def test_recent_verification_finds_damage_at_open_or_in_check_never_a_traceback(
    tmp_path: Path, name: str
) -> None:
    """``verify="recent"`` trusts slots older than the last flush, so damage only their
    checksum reveals passes open; ``check()`` must still find it."""
    path = tmp_path / "s"
    populated(path)
    CORRUPTIONS[name](path)
    try:
        store = WarmTierStore.open(path, verify="recent")
    except CorruptionError:
        return
    with store, pytest.raises(CorruptionError, match="checksum"):
        store.check()


def test_recent_verification_reads_an_undamaged_store_exactly(tmp_path: Path) -> None:
    path = tmp_path / "s"
    expected = populated(path)
    with WarmTierStore.open(path, verify="recent") as s:
        s.check()
        got = {rid: s.get(rid).content for rid in s.ids()}  # type: ignore[union-attr]
    assert got == expected


def test_an_unknown_verify_mode_is_refused_and_leaves_the_store_openable(tmp_path: Path) -> None:
    path = tmp_path / "s"
    populated(path, n=3)
    with pytest.raises(ValueError, match="verify"):
        WarmTierStore.open(path, verify="some")  # type: ignore[arg-type]
    with WarmTierStore.open(path) as s:
        assert len(s) == 3


def test_many_damaged_slots_are_counted_and_the_first_fifty_listed(tmp_path: Path) -> None:
    path = tmp_path / "s"
    expected = populated(path, n=70)
    _content(path).write_bytes(bytes(_content(path).stat().st_size))
    damaged = sum(1 for c in expected.values() if c)
    assert damaged > 51
    with pytest.raises(CorruptionError) as info:
        WarmTierStore.open(path)
    assert f": {damaged} slot(s) written before the last flush fail" in str(info.value)
    assert len(info.value.violations) == 50
    assert info.value.violations[0] == "slot 1 (seq 2) fails its checksum or bounds"


def _rewrite_slot(path: Path, slot: int, **fields: float) -> None:
    """Set fixed fields of a slot and make its checksum valid again."""
    raw = bytearray(_slots(path).read_bytes())
    header = Header.unpack(bytes(raw[:HEADER_SIZE]), "test")
    dtype = slot_dtype(header.dim)
    size = dtype.itemsize
    start = HEADER_SIZE + slot * size
    row = np.frombuffer(raw, dtype, count=1, offset=start).copy()
    for name, value in fields.items():
        row[name] = value
    content = _content(path).read_bytes()[int(row["off"][0]) : int(row["off"][0] + row["length"][0])]
    row4 = 4 * header.dim
    embedding = _embeddings(path).read_bytes()[slot * row4 : (slot + 1) * row4]
    row["crc"] = slot_checksum(row.tobytes(), content, FORMAT_VERSION, embedding)
    raw[start : start + size] = row.tobytes()
    _slots(path).write_bytes(bytes(raw))


@pytest.mark.parametrize(
    "fields",
    [{"confidence": 1.5}, {"confidence": -0.25}, {"confidence": float("nan")},
     {"norm": -1.0}, {"norm": float("inf")}, {"norm": float("nan")}],
    ids=lambda f: "-".join(f"{k}={v}" for k, v in f.items()),
)
def test_a_slot_field_out_of_range_under_a_valid_checksum_is_corruption(
    tmp_path: Path, fields: dict[str, float]
) -> None:
    path = tmp_path / "s"
    populated(path)
    _rewrite_slot(path, 3, **fields)
    with pytest.raises(CorruptionError, match="slot fields out of range despite a valid checksum"):
        WarmTierStore.open(path)


@pytest.mark.parametrize(
    "fields",
    [{"id_len": 0}, {"id_len": 256}, {"length": 2000}],
    ids=["empty_id", "id_longer_than_its_field", "longer_than_max_content"],
)
def test_a_slot_out_of_bounds_under_a_valid_checksum_is_corruption(
    tmp_path: Path, fields: dict[str, float]
) -> None:
    path = tmp_path / "s"
    with WarmTierStore.create(path, dim=4, max_content=1000) as s:
        s.put("a", [1, 2, 3, 4], b"x" * 10)
        s.put("b", [1, 2, 3, 4], b"y")
    _rewrite_slot(path, 0, **fields)
    with pytest.raises(CorruptionError, match="1 slot\\(s\\) written before the last flush fail"):
        WarmTierStore.open(path)


def test_compaction_removes_the_old_generation(tmp_path: Path) -> None:
    path = tmp_path / "s"
    populated(path)
    with WarmTierStore.open(path) as s:
        s.compact()
        assert sorted(os.listdir(path)) == ["CURRENT", "LOCK", "content.1", "embeddings.1",
                                            "slots.1"]
        s.compact()
        assert sorted(os.listdir(path)) == ["CURRENT", "LOCK", "content.2", "embeddings.2",
                                            "slots.2"]


def test_a_slot_rewritten_in_range_under_a_valid_checksum_is_read_back(tmp_path: Path) -> None:
    path = tmp_path / "s"
    populated(path)
    _rewrite_slot(path, 3, confidence=1.0)
    with WarmTierStore.open(path) as s:
        assert s.get("id-3").confidence == 1.0
        s.check()


def test_a_directory_with_no_store_is_corruption(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    with pytest.raises(CorruptionError, match="no CURRENT file; not a warmtier store"):
        WarmTierStore.open(tmp_path / "d")
    (tmp_path / "f").write_text("x")
    with pytest.raises(CorruptionError) as info:
        WarmTierStore.open(tmp_path / "f")
    assert str(info.value) == f"{tmp_path / 'f'} is not a directory; not a warmtier store"


def test_an_unpublished_slot_is_ignored_on_open(tmp_path: Path) -> None:
    """A slot body written without its sequence number (a crash before publish) is free."""
    path = tmp_path / "s"
    populated(path, n=3)
    raw = bytearray(_slots(path).read_bytes())
    size = slot_dtype(4).itemsize
    fourth = HEADER_SIZE + 3 * size
    raw[fourth : fourth + size] = raw[HEADER_SIZE : HEADER_SIZE + size]
    raw[fourth + 8 : fourth + 16] = bytes(8)  # the sequence number: never published
    _slots(path).write_bytes(bytes(raw))
    with WarmTierStore.open(path) as s:
        assert len(s) == 3
        s.check()


@pytest.mark.parametrize("verify", ["all", "recent"])
def test_a_torn_slot_written_after_the_last_flush_is_dropped(tmp_path: Path, verify: str) -> None:
    path = tmp_path / "s"
    s = WarmTierStore.create(path, dim=4)
    s.put("durable", [1, 0, 0, 0], b"flushed")
    s.flush()
    s.put("torn", [0, 1, 0, 0], b"never completed")
    del s  # abandon: nothing flushed since
    size = slot_dtype(4).itemsize
    _flip(_slots(path), HEADER_SIZE + size + 200)  # the second slot's embedding
    with WarmTierStore.open(path, verify=verify) as s:  # type: ignore[arg-type]
        assert s.ids() == ["durable"]
        s.check()


def test_duplicate_ids_resolve_to_the_highest_sequence_number(tmp_path: Path) -> None:
    """A crash between publishing a replacement and retiring the old slot leaves both."""
    path = tmp_path / "s"
    s = WarmTierStore.create(path, dim=4)
    s.put("k", [1, 0, 0, 0], b"old")
    s.flush()
    s.put("k", [0, 1, 0, 0], b"new")  # the old slot stays valid on disk until a flush
    del s
    with WarmTierStore.open(path) as s:
        assert s.get("k").content == b"new"
        assert len(s) == 1
        s.check()


@pytest.mark.parametrize("seed", range(30))
def test_random_byte_damage_gives_corruption_error_or_a_checked_store(
    tmp_path: Path, seed: int
) -> None:
    path = tmp_path / "s"
    populated(path, n=25)
    rnd = random.Random(seed)
    target = rnd.choice([_slots(path), _content(path), path / "CURRENT"])
    raw = bytearray(target.read_bytes())
    for _ in range(rnd.randint(1, 8)):
        if raw:
            raw[rnd.randrange(len(raw))] = rnd.randrange(256)
    if rnd.random() < 0.2:
        raw = raw[: rnd.randrange(len(raw) + 1)]
    target.write_bytes(bytes(raw))
    try:
        store = WarmTierStore.open(path)
    except CorruptionError:
        return
    with store:
        store.check()
        for rid in store.ids():
            assert store.get(rid) is not None
