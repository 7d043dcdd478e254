"""Direct claims about the engine adapters (the suites judge them through the contract; these
pin down what each adapter adds: files, locking, corruption and capacity errors)."""

from __future__ import annotations

import errno
import importlib
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from warmtier import CapacityError, CorruptionError, InvalidArgumentError, StoreLockedError
from warmtier.adapters.sqlite import SQLiteStore

pytestmark = pytest.mark.own_stores

lmdb_module = pytest.importorskip("warmtier.adapters.lmdb", reason="py-lmdb is not installed")
LMDBStore = lmdb_module.LMDBStore

STORES = [SQLiteStore, LMDBStore]
DATA_FILE = {SQLiteStore: "store.db", LMDBStore: "data.mdb"}
by_store = pytest.mark.parametrize("cls", STORES, ids=lambda c: c.__name__)


def _fill(store: Any, n: int) -> dict[str, tuple[list[float], bytes, float]]:
    rng = np.random.default_rng(n)
    want = {}
    for i in range(n):
        emb = rng.standard_normal(store.dim).astype(np.float32).tolist()
        want[f"id-{i}"] = (emb, bytes(rng.integers(0, 256, i * 37, dtype=np.uint8)), i / n)
        store.put(f"id-{i}", *want[f"id-{i}"])
    return want


@by_store
def test_store_survives_reopen_with_every_record(cls: Any, tmp_path: Path) -> None:
    with cls.create(tmp_path / "s", dim=5) as s:
        want = _fill(s, 60)
        s.remove("id-3")
        del want["id-3"]
    with cls.open(tmp_path / "s") as s:
        assert sorted(s.ids()) == sorted(want) and len(s) == len(want)
        for rid, (emb, content, conf) in want.items():
            rec = s.get(rid)
            assert rec.embedding.tobytes() == np.float32(emb).tobytes(), rid
            assert rec.content == content and rec.confidence == float(np.float32(conf)), rid
        s.check()


@by_store
def test_compaction_keeps_every_record_and_reopens(cls: Any, tmp_path: Path) -> None:
    with cls.create(tmp_path / "s", dim=3) as s:
        want = _fill(s, 40)
        for i in range(0, 40, 2):
            s.remove(f"id-{i}")
        result = s.compact()
        assert result.bytes_reclaimed == result.bytes_before - result.bytes_after
        assert result.bytes_after == s.stats().content_allocated_bytes
        assert sorted(s.ids()) == sorted(f"id-{i}" for i in range(1, 40, 2))
    with cls.open(tmp_path / "s") as s:
        assert s.get("id-39").content == want["id-39"][1]


@by_store
def test_second_open_is_store_locked_in_this_and_another_process(cls: Any, tmp_path: Path) -> None:
    path = tmp_path / "s"
    with cls.create(path, dim=2) as s:
        s.put("a", [1, 0], b"x")
        with pytest.raises(StoreLockedError):
            cls.open(path)
        code = (f"from {cls.__module__} import {cls.__name__} as C\n"
                "from warmtier import StoreLockedError\n"
                f"try:\n    C.open({str(path)!r})\nexcept StoreLockedError:\n    raise SystemExit(7)")
        assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 7
        assert s.get("a").content == b"x", "the holder must not be disturbed"


@by_store
def test_open_of_garbage_file_is_corruption_error(cls: Any, tmp_path: Path) -> None:
    path = tmp_path / "s"
    path.mkdir()
    (path / DATA_FILE[cls]).write_bytes(b"not a database " * 1000)
    with pytest.raises(CorruptionError):
        cls.open(path)
    with pytest.raises(CorruptionError):  # the failed open released the lock
        cls.open(path)


@by_store
def test_open_of_an_empty_directory_is_corruption_and_of_a_missing_path_enoent(
        cls: Any, tmp_path: Path) -> None:
    with pytest.raises(CorruptionError):
        cls.open(tmp_path)
    with pytest.raises(FileNotFoundError) as info:
        cls.open(tmp_path / "missing")
    assert info.value.errno == errno.ENOENT
    (tmp_path / "other").write_text("x")
    with pytest.raises(InvalidArgumentError):
        cls.create(tmp_path, dim=2)


@by_store
def test_a_truncated_data_file_is_corruption_error(cls: Any, tmp_path: Path) -> None:
    path = tmp_path / "s"
    with cls.create(path, dim=4) as s:
        _fill(s, 30)
    data = path / DATA_FILE[cls]
    data.write_bytes(data.read_bytes()[: data.stat().st_size // 2])
    with pytest.raises(CorruptionError):
        cls.open(path)


class _TinySQLite(SQLiteStore):
    pragmas: ClassVar[tuple[str, ...]] = (*SQLiteStore.pragmas, "max_page_count=40")


class _TinyLMDB(LMDBStore):  # type: ignore[misc]
    initial_map_size = 1 << 18
    max_map_size = 1 << 19


@pytest.mark.parametrize("cls", [_TinySQLite, _TinyLMDB], ids=["sqlite", "lmdb"])
def test_a_full_store_put_is_capacity_error_that_changes_nothing(cls: Any, tmp_path: Path) -> None:
    """The engine's size limit stands in for a full disk: the same error path (SQLITE_FULL;
    a map that cannot grow), without a tiny file system."""
    with cls.create(tmp_path / "s", dim=2) as s:
        s.put("a", [1, 0], b"small")
        with pytest.raises(CapacityError):
            s.put("a", [0, 1], b"z" * (1 << 20))
        assert s.get("a").content == b"small" and len(s) == 1
        s.put("b", [0, 1], b"still usable")
        s.check()
    with cls.open(tmp_path / "s") as s:
        assert s.get("a").content == b"small" and s.get("b").content == b"still usable"


def test_importing_the_lmdb_adapter_without_lmdb_says_how_to_install_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "lmdb", None)
    monkeypatch.delitem(sys.modules, "warmtier.adapters.lmdb")
    with pytest.raises(ImportError, match=r"pip install warmtier\[lmdb\]"):
        importlib.import_module("warmtier.adapters.lmdb")


def test_a_damaged_file_whose_text_is_not_utf8_is_corruption_error(tmp_path: Path) -> None:
    """Found by the 10,000-case fuzz loop (`--replay 1302987346:fz:3853`): sqlite3 decoded
    a pragma's damaged text and open() raised UnicodeDecodeError."""
    from warmtier.testing.crash.fuzz import apply_mutations, base_images, loop_case

    rng = np.random.default_rng(1302987346)
    bases = base_images(SQLiteStore, str(tmp_path))
    for i in range(3853 + 1):
        base, muts = loop_case(rng, i, sorted(bases))
    where = tmp_path / "damaged"
    where.mkdir()
    for name, data in apply_mutations(bases[base], muts).items():
        (where / name).write_bytes(data)
    with pytest.raises(CorruptionError):
        SQLiteStore.open(where)
