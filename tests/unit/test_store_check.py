"""``WarmTierStore.check()`` names each broken invariant exactly, and keeps looking after
the first.

Found by mutation testing: the reference store never breaks its own invariants, so with a
healthy store ``check()`` returns nothing whatever its conditions say, and mutants that
weakened them (``>`` for ``>=``, ``break`` for ``continue``, a lost message) survived every
suite. Each test here plants one broken piece of state, in memory or on disk, and states
the full list of violations ``check()`` must report: no more, no fewer.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from warmtier import CorruptionError, WarmTierStore
from warmtier.format import FORMAT_VERSION

pytestmark = pytest.mark.reference_only


def _violations(store: WarmTierStore) -> list[str]:
    try:
        store.check()
    except CorruptionError as exc:
        return exc.violations
    return []


@pytest.fixture
def store(tmp_path: Path) -> Iterator[WarmTierStore]:
    """Live a (slot 0), e (slot 3, empty content) and b (slot 5); b's two older versions
    are stale (slots 1 and 4); c was removed (slot 2, pending); nothing synced since."""
    s = WarmTierStore.create(tmp_path / "s", dim=4)
    s.put("a", np.ones(4), b"A" * 10, 0.25)
    s.put("b", np.ones(4), b"B" * 20, 0.5)
    s.put("c", np.ones(4), b"C" * 5, 0.75)
    s.put("e", np.ones(4), b"", 1.0)
    s.put("b", np.full(4, 2.0), b"b" * 30, 0.5)
    s.put("b", np.full(4, 3.0), b"bb" * 20, 0.5)
    assert s.remove("c")
    assert [s._index[i] for i in "abe"] == [0, 5, 3], "the fixture's slot layout moved"
    assert s._stale == {"b": [1, 4]} and s._pending_slots == [2]
    assert _violations(s) == [], "the fixture store is not healthy to begin with"
    yield s
    s.__del__()  # abandon it: planted state must not reach the files through close's sync


def _cap(s: WarmTierStore) -> int:
    return s._capacity


def _extent(s: WarmTierStore, slot: int) -> tuple[int, int]:
    return int(s._offsets[slot]), int(s._lengths[slot])


# -- file and array shapes: reported alone, before anything is indexed by slot ----------


def test_check_names_an_arena_file_smaller_than_the_allocator(store: WarmTierStore) -> None:
    size = store._alloc.size
    store._alloc.grow(size + 4096)
    assert _violations(store) == [f"arena file is {size} bytes, allocator thinks {size + 4096}"]


def test_check_names_a_damaged_header(store: WarmTierStore) -> None:
    store._slots_file.u8[:4] = 0
    problems = _violations(store)
    assert len(problems) == 1 and "header" in problems[0], problems


def test_check_reports_the_allocators_own_problems(store: WarmTierStore) -> None:
    store._alloc._insert(store._alloc.size - 1, 0)
    problems = _violations(store)
    assert problems and all("length 0" in p or "extent" in p for p in problems), problems


@pytest.mark.parametrize("name", ["live", "offsets", "lengths", "norms", "confidences"])
def test_check_names_an_in_memory_array_of_the_wrong_length(
    store: WarmTierStore, name: str
) -> None:
    cap = _cap(store)
    setattr(store, f"_{name}", getattr(store, f"_{name}")[:-1])
    assert _violations(store) == [f"in-memory {name} array has {cap - 1} entries for {cap} slots"]


def test_check_names_a_slot_id_list_of_the_wrong_length(store: WarmTierStore) -> None:
    cap = _cap(store)
    store._slot_ids.append(None)
    assert _violations(store) == [f"slot id list has {cap + 1} entries for {cap} slots"]


# -- the index and the roles of slots ----------------------------------------------------


def test_check_names_an_index_entry_with_no_live_slot(store: WarmTierStore) -> None:
    store._index["ghost"] = 0
    assert _violations(store) == [
        "3 live slots but 4 ids in the index",
        "two ids share a slot",
        "index entry 'ghost' -> slot 0 is not that live slot",
    ]


@pytest.mark.parametrize("where", ["beyond", "last"])
def test_check_names_an_index_entry_outside_the_slots(store: WarmTierStore, where: str) -> None:
    cap = _cap(store)
    slot = cap if where == "beyond" else cap - 1
    store._index["a"] = slot
    assert _violations(store) == [f"index entry 'a' -> slot {slot} is not that live slot"]


def test_check_names_index_entries_pointing_at_each_others_slots(store: WarmTierStore) -> None:
    store._index["a"], store._index["e"] = 3, 0
    assert _violations(store) == [
        "index entry 'a' -> slot 3 is not that live slot",
        "index entry 'e' -> slot 0 is not that live slot",
    ]


def test_check_names_an_in_memory_id_that_differs_from_the_disk(store: WarmTierStore) -> None:
    store._slot_ids[0] = "z"
    assert _violations(store) == [
        "index entry 'a' -> slot 0 is not that live slot",
        "slot 0 holds id 'a' on disk, 'z' in memory",
    ]


def test_check_names_a_stale_counter_that_drifted(store: WarmTierStore) -> None:
    store._stale_count += 1
    assert _violations(store) == ["stale counter 3 != 2 stale slots"]


def test_check_names_a_pending_byte_counter_that_drifted(store: WarmTierStore) -> None:
    store._pending_bytes += 1
    assert _violations(store) == ["pending byte counter != sum of pending extents"]


@pytest.mark.parametrize("role", ["free", "pending"])
@pytest.mark.parametrize("where", ["beyond", "negative"])
def test_check_names_a_slot_outside_the_file(store: WarmTierStore, role: str, where: str) -> None:
    cap = _cap(store)
    slot = cap if where == "beyond" else -1
    getattr(store, f"_{role}_slots").insert(0, slot)
    assert _violations(store) == [f"{role} slot {slot} is outside the {cap} slots"]


def test_check_names_a_stale_slot_outside_the_file(store: WarmTierStore) -> None:
    cap = _cap(store)
    store._stale["b"].insert(0, cap)
    store._stale_count += 1
    assert _violations(store) == [f"stale slot {cap} is outside the {cap} slots"]


def test_check_names_a_slot_in_two_roles(store: WarmTierStore) -> None:
    store._free_slots.append(0)
    store._pending_slots.append(1)
    assert _violations(store) == [
        "slot 0 is both live and free",
        "slot 1 is both pending and stale",
        "free slot 0 still has sequence number 1 on disk",
        "removed slot 1 still has sequence number 2 on disk",
    ]


def test_check_names_a_leaked_slot(store: WarmTierStore) -> None:
    store._free_slots.pop(0)
    store._free_slots.pop(0)
    assert _violations(store) == ["2 slot(s) are in no role (leaked)"]


@pytest.mark.parametrize("role", ["free", "pending"])
def test_check_names_a_dead_slot_that_is_still_published(tmp_path: Path, role: str) -> None:
    with WarmTierStore.create(tmp_path / "s", dim=4) as s:
        s.put("a", np.ones(4), b"x", 1.0)
        s.remove("a")
        if role == "free":
            s.flush()
        assert 0 in getattr(s, f"_{role}_slots")
        assert _violations(s) == []
        s._seqs[0] = 1
        word = "free" if role == "free" else "removed"
        assert _violations(s) == [f"{word} slot 0 still has sequence number 1 on disk"]
        s._seqs[0] = 0


# -- live and stale slots on disk against memory -----------------------------------------


def test_check_keeps_looking_after_an_unpublished_live_slot(store: WarmTierStore) -> None:
    store._seqs[0] = 0
    store._confidences[3] = 0.5
    assert _violations(store) == [
        "live or stale slot 0 is unpublished on disk",
        "slot 3 confidence on disk != in memory",
    ]


def test_check_keeps_looking_after_an_extent_that_leaves_the_arena(store: WarmTierStore) -> None:
    arena = store._alloc.size
    store._slots[0]["off"] = arena
    store._confidences[3] = 0.125
    assert _violations(store) == [
        f"slot 0 extent [{arena}, {arena + 10}) leaves the arena of {arena}",
        "slot 3 confidence on disk != in memory",
    ]


def test_check_accepts_an_extent_that_ends_exactly_at_the_arena_end(store: WarmTierStore) -> None:
    arena = store._alloc.size
    off, _ = _extent(store, 0)
    store._slots[0]["off"] = arena - 10
    assert _violations(store) == [
        "slot 0 fails its checksum",
        f"slot 0 extent on disk ({arena - 10}, 10) != in memory ({off}, 10)",
    ]


def test_check_finds_damaged_content_of_a_live_slot(store: WarmTierStore) -> None:
    off, _ = _extent(store, 0)
    store._arena[off + 9] ^= 0xFF
    assert _violations(store) == ["slot 0 fails its checksum"]


def test_check_keeps_checking_stale_slots_after_the_first(store: WarmTierStore) -> None:
    store._embeddings[4][0] = 9.0
    assert _violations(store) == ["slot 4 fails its checksum"]


@pytest.mark.parametrize("field", ["confidences", "norms"])
def test_check_names_an_in_memory_field_that_differs_from_the_disk(
    store: WarmTierStore, field: str
) -> None:
    getattr(store, f"_{field}")[5] += 1.0
    expected = [f"slot 5 {field[:-1]} on disk != in memory"]
    if field == "norms":  # the score weight no longer follows it either
        norm = float(store._norms[5])
        expected.append(f"slot 5 has score weight {1 / (norm - 1):.6g}, expected "
                        f"{1 / norm:.6g} (its norm is {norm:.6g})")
    assert _violations(store) == expected


def test_check_names_a_score_weight_that_does_not_follow_its_norm(
        store: WarmTierStore) -> None:
    store._table.weights[5] = 0.0
    norm = float(store._norms[5])
    assert _violations(store) == [
        f"slot 5 has score weight 0, expected {1 / norm:.6g} (its norm is {norm:.6g})"]


def test_check_names_a_score_weight_left_on_a_slot_that_is_not_live(
        store: WarmTierStore) -> None:
    dead = int(np.flatnonzero(~store._table.live)[0])
    store._table.weights[dead] = 2.0
    assert _violations(store) == [
        f"slot {dead} has score weight 2, expected 0 (it is not live)"]


def test_check_names_a_sequence_counter_that_fell_behind(store: WarmTierStore) -> None:
    newest = int(store._seqs.max())
    store._next_seq = newest
    assert _violations(store) == [f"a slot has sequence number {newest} >= next {newest}"]


# -- extents and byte counters -----------------------------------------------------------


def test_check_names_every_extent_an_overlap_reaches(store: WarmTierStore) -> None:
    # held extents: a [0, 10), then pending b [10, 30), c [30, 35), b [35, 65); live b moves
    # from [65, 105) onto [5, 45) in memory only
    assert [_extent(store, 0), _extent(store, 5)] == [(0, 10), (65, 40)]
    store._offsets[5] = 5
    assert _violations(store) == [
        "slot 5 extent on disk (65, 40) != in memory (5, 40)",
        "extent at 5 overlaps the one ending at 10",
        "extent at 10 overlaps the one ending at 45",
        "extent at 30 overlaps the one ending at 45",
        "extent at 35 overlaps the one ending at 45",
    ]


def test_check_names_bytes_the_allocator_holds_for_nobody(store: WarmTierStore) -> None:
    held = store._alloc.allocated_bytes
    assert store._alloc.allocate(8) is not None
    assert _violations(store) == [
        f"live + pending extents hold {held} bytes; the allocator has {held + 8} allocated"
    ]


def test_check_names_a_free_extent_over_live_content(store: WarmTierStore) -> None:
    held = store._alloc.allocated_bytes
    off, n = _extent(store, 0)
    store._alloc.free(off, n)
    free = [(o, m) for o, m in store._alloc.free_extents() if o <= off < o + m]
    assert len(free) == 1
    fo, fn = free[0]
    assert _violations(store) == [
        f"live + pending extents hold {held} bytes; the allocator has {held - n} allocated",
        f"free extent [{fo}, {fo + fn}) overlaps a held extent at {off}",
    ]


def test_check_names_a_live_byte_counter_that_drifted(store: WarmTierStore) -> None:
    store._live_bytes += 1
    assert _violations(store) == ["live byte counter 51 != sum of live lengths 50"]


def test_check_names_a_live_byte_counter_that_drifted_in_an_empty_store(tmp_path: Path) -> None:
    with WarmTierStore.create(tmp_path / "s", dim=4) as s:
        s._live_bytes = 1
        assert _violations(s) == ["live byte counter 1 != sum of live lengths 0"]
        s._live_bytes = 0


def test_check_names_an_id_on_disk_that_is_not_utf8(store: WarmTierStore) -> None:
    store._slots[0]["id"][0] = 0xFF  # 'a' becomes an invalid UTF-8 byte
    assert _violations(store) == [
        "slot 0 fails its checksum",
        "slot 0 holds id '\ufffd' on disk, 'a' in memory",
    ]


# -- stats: what the files and lists hold --------------------------------------------------


def test_stats_report_the_files_and_the_free_lists(store: WarmTierStore) -> None:
    stats = store.stats()
    assert stats.slots_file_bytes == os.path.getsize(store._slots_file.path)
    assert stats.content_file_bytes == os.path.getsize(store._content_file.path)
    assert stats.content_capacity_bytes == store._alloc.size
    assert stats.extra == {
        "free_slots": _cap(store) - 6,
        "pending_slots": 3,  # c removed, b's two older versions
        "pending_bytes": 5 + 20 + 30,
        "free_extents": 1,
        "generation": 0,
        "format": FORMAT_VERSION,
        "embeddings_file_bytes": os.path.getsize(store._emb_file.path),
    }
