"""The reference store's own ``create`` options: each bad value is refused by name, each
edge value is accepted, and a refused create leaves the path free.

(The contract's ``path`` and ``dim`` rules run against any store in ``test_bad_input``.)
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from warmtier import CapacityError, InvalidArgumentError, StoreLockedError, WarmTierStore
from warmtier.format import MAX_DIM

pytestmark = pytest.mark.reference_only

BAD_OPTIONS: list[tuple[str, Any, str]] = [
    ("dim", MAX_DIM + 1, f"dim must be at most {MAX_DIM}; got {MAX_DIM + 1}"),
    ("initial_capacity", 0, "initial_capacity must be an int >= 1; got 0"),
    ("initial_capacity", 2.0, "initial_capacity must be an int >= 1; got 2.0"),
    ("initial_content_bytes", -1, "initial_content_bytes must be an int >= 0; got -1"),
    ("initial_content_bytes", True, "initial_content_bytes must be an int >= 0; got True"),
    ("max_content", -1, "max_content must be an int >= 0; got -1"),
    ("max_content", "1", "max_content must be an int >= 0; got '1'"),
    ("max_slots", 0, "max_slots must be a positive int or None; got 0"),
    ("max_slots", 1.5, "max_slots must be a positive int or None; got 1.5"),
    ("max_slots", False, "max_slots must be a positive int or None; got False"),
    ("max_content_bytes", -4096, "max_content_bytes must be a positive int or None; got -4096"),
    ("max_content_bytes", "4096", "max_content_bytes must be a positive int or None; got '4096'"),
]


@pytest.mark.parametrize(("option", "value", "says"), BAD_OPTIONS,
                         ids=[f"{o}={v!r}" for o, v, _ in BAD_OPTIONS])
def test_a_bad_create_option_is_refused_by_name(
    tmp_path: Path, option: str, value: Any, says: str
) -> None:
    kwargs: dict[str, Any] = {"dim": 4, option: value}
    with pytest.raises(InvalidArgumentError) as info:
        WarmTierStore.create(tmp_path / "s", **kwargs)
    assert str(info.value) == says
    assert not (tmp_path / "s").exists()


def test_create_on_a_file_is_refused_and_leaves_the_file(tmp_path: Path) -> None:
    path = tmp_path / "file"
    path.write_bytes(b"mine")
    with pytest.raises(InvalidArgumentError) as info:
        WarmTierStore.create(path, dim=4)
    assert str(info.value) == f"{path} exists and is not a directory"
    assert path.read_bytes() == b"mine"


def test_create_in_a_non_empty_directory_names_it(tmp_path: Path) -> None:
    (tmp_path / "junk").write_text("x")
    with pytest.raises(InvalidArgumentError) as info:
        WarmTierStore.create(tmp_path, dim=4)
    assert str(info.value) == f"{tmp_path} is not empty; create needs a new store"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"dim": MAX_DIM, "initial_capacity": 1},
        {"dim": 1, "initial_capacity": 1, "initial_content_bytes": 0, "max_content": 0},
        {"dim": 2, "max_slots": 1, "max_content_bytes": 1},
    ],
    ids=["largest_dim", "smallest_everything", "smallest_limits"],
)
def test_edge_create_options_are_accepted_and_survive_reopen(
    tmp_path: Path, kwargs: dict[str, Any]
) -> None:
    dim = kwargs["dim"]
    with WarmTierStore.create(tmp_path / "s", **kwargs) as s:
        s.put("only", [0.5] * dim, b"" if kwargs.get("max_content") == 0 else b"c")
    with WarmTierStore.open(tmp_path / "s") as s:
        rec = s.get("only")
        assert rec is not None and rec.embedding.shape == (dim,)
        s.check()


def test_the_content_limit_admits_exactly_its_bytes_and_names_itself_past_them(
    tmp_path: Path,
) -> None:
    limit = 3 * 4096
    with WarmTierStore.create(tmp_path / "s", dim=2, initial_content_bytes=0,
                              max_content_bytes=limit) as s:
        s.put("a", [1, 0], b"a" * 100)  # the arena is one page, 3,996 bytes free at its end
        s.put("b", [0, 1], b"b" * (limit - 100))  # growth must count those free bytes
        assert s.stats().content_capacity_bytes == limit
        with pytest.raises(CapacityError) as info:
            s.put("c", [1, 1], b"c")
        assert str(info.value) == f"the content arena holds its maximum of {limit} bytes"
        assert s.get("c") is None
        s.check()


def test_the_slot_limit_names_itself(tmp_path: Path) -> None:
    with WarmTierStore.create(tmp_path / "s", dim=2, initial_capacity=1, max_slots=2) as s:
        s.put("a", [1, 0], b"")
        s.put("b", [0, 1], b"")
        with pytest.raises(CapacityError) as info:
            s.put("c", [1, 1], b"")
        assert str(info.value) == "the store holds its maximum of 2 slots"


def test_a_second_open_in_the_same_process_names_the_store(tmp_path: Path) -> None:
    path = tmp_path / "s"
    with WarmTierStore.create(path, dim=2):
        with pytest.raises(StoreLockedError) as info:
            WarmTierStore.open(path)
        assert str(info.value) == f"{path} is already open in this process"


def test_the_initial_capacity_never_exceeds_the_slot_limit(tmp_path: Path) -> None:
    with WarmTierStore.create(tmp_path / "s", dim=2, initial_capacity=16, max_slots=4) as s:
        assert s.stats().capacity == 4


def test_limits_survive_compaction_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "s"
    with WarmTierStore.create(path, dim=2, initial_capacity=2, initial_content_bytes=0,
                              max_slots=3, max_content_bytes=8192) as s:
        for i in range(3):
            s.put(f"k{i}", [1, i], b"x" * 100)
        s.remove("k2")
        s.compact()
    for reopened in (False, True):
        with WarmTierStore.open(path) as s:
            if not reopened:
                s.compact()
            s.put("k2", [1, 2], b"y")
            with pytest.raises(CapacityError, match="maximum of 3 slots"):
                s.put("k3", [1, 3], b"z")
            s.remove("k2")
            s.flush()  # a slot is free again, so the arena is what limits the next put
            with pytest.raises(CapacityError, match="maximum of 8192 bytes"):
                s.put("k0", [1, 0], b"w" * 9000)
            assert s.get("k0").content == b"x" * 100


def test_store_files_are_created_with_mode_0644_less_the_umask(tmp_path: Path) -> None:
    umask = os.umask(0)
    os.umask(umask)
    with WarmTierStore.create(tmp_path / "s", dim=2) as s:
        s.compact()  # the second generation is created by compact
    for name in os.listdir(tmp_path / "s"):
        mode = stat.S_IMODE(os.stat(tmp_path / "s" / name).st_mode)
        assert mode == 0o644 & ~umask, f"{name} has mode {mode:o}"


def test_a_full_arena_takes_a_put_by_reclaiming_removed_content(tmp_path: Path) -> None:
    """At its limit the arena cannot grow; a removed record's bytes, too few to trigger the
    early sync, must still be reclaimed (by a sync) rather than refusing the put."""
    with WarmTierStore.create(tmp_path / "s", dim=2, initial_content_bytes=8192,
                              max_content_bytes=8192) as s:
        s.put("a", [1, 0], b"a" * 1500)
        s.put("b", [0, 1], b"b" * 6000)
        s.remove("a")  # 1,500 pending bytes: under a quarter of the arena
        s.put("c", [1, 1], b"c" * 1000)  # 692 bytes free at the end: too few
        assert s.get("c").content == b"c" * 1000 and s.get("b").content == b"b" * 6000
        s.check()


def test_compaction_counts_the_records_it_moved(tmp_path: Path) -> None:
    with WarmTierStore.create(tmp_path / "s", dim=2) as s:
        for i in range(5):
            s.put(f"k{i}", [1, i], b"x" * 100 if i % 2 else b"")
        s.remove("k0")
        stats = s.compact()
        assert stats.records_moved == 4
        assert stats.bytes_before - stats.bytes_after == stats.bytes_reclaimed
