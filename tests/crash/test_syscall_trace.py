"""The syscall tracer sees what the kernel sees: syncs made in C (sqlite3, LMDB, numpy's
msync) as well as Python's, from every thread, in order, and can kill the child at any one."""

from __future__ import annotations

import os
import sqlite3
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from warmtier.testing.crash.trace import (
    Close,
    Mmap,
    Open,
    Rename,
    Resize,
    Sync,
    Trace,
    Unlink,
    Write,
    ledger,
    trace,
)

pytestmark = [pytest.mark.own_stores,
              pytest.mark.skipif(sys.platform != "linux", reason="ptrace and seccomp are Linux's")]


def _explain(t: Trace) -> str:
    return f"\nthe trace ({t.stops} stops, exit {t.exit_status}):\n{t.describe()}"


def _write_file(path: Path, data: bytes, sync: bool = True) -> None:
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)


def _sqlite_puts(db: Path, synchronous: str, count: int) -> None:
    con = sqlite3.connect(db, isolation_level=None)
    con.execute(f"PRAGMA synchronous={synchronous}")  # first: switching to WAL commits
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v BLOB)")
    for i in range(count):
        con.execute("INSERT OR REPLACE INTO kv VALUES (?, ?)", (f"k{i}", os.urandom(100)))
    con.close()


def test_os_fsync_from_python_is_observed(tmp_path: Path) -> None:
    t = trace(lambda: _write_file(tmp_path / "a", b"hello"), tmp_path)
    syncs = t.syncs()
    assert t.exit_status == 0, _explain(t)
    assert [s.syscall for s in syncs] == ["fsync"], _explain(t)
    (image,) = syncs[0].files
    assert (image.path, image.data, image.size) == ("a", b"hello", 5), _explain(t)


def test_fdatasync_made_in_c_by_sqlite_is_observed(tmp_path: Path) -> None:
    t = trace(lambda: _sqlite_puts(tmp_path / "db", "FULL", 3), tmp_path)
    wal = [f for s in t.syncs() if s.syscall == "fdatasync" for f in s.files
           if f.path == "db-wal"]
    assert t.exit_status == 0, _explain(t)
    assert len(wal) >= 3, f"expected an fdatasync of db-wal per commit{_explain(t)}"
    last = wal[-1]
    assert last.whole and last.data[:4] in (b"\x37\x7f\x06\x82", b"\x37\x7f\x06\x83"), (
        f"expected the WAL's bytes, with its magic number, got {last.data[:8]!r}")
    assert len(last.data) > len(wal[0].data), "the later commits grew the durable WAL"


def test_synchronous_off_sqlite_shows_no_sync(tmp_path: Path) -> None:
    t = trace(lambda: _sqlite_puts(tmp_path / "db", "OFF", 3), tmp_path)
    assert t.exit_status == 0, _explain(t)
    assert t.syncs() == [], f"synchronous=OFF must make nothing durable{_explain(t)}"
    assert any(isinstance(e, Write) and e.path == "db-wal" for e in t.events), (
        f"the tracer saw no write to the WAL, so the absence of syncs proves nothing{_explain(t)}")


def test_numpy_memmap_flush_is_observed_as_msync_with_its_file_range(tmp_path: Path) -> None:
    path = tmp_path / "m.bin"
    path.write_bytes(bytes(5 * 4096))

    def workload() -> None:
        m = np.memmap(path, dtype=np.uint8, mode="r+", offset=9000, shape=(4000,))
        m[0], m[3999] = 7, 9  # file offsets 9000 and 12999: pages 2 and 3
        m.flush()

    t = trace(workload, tmp_path)
    msyncs = [s for s in t.syncs() if s.syscall == "msync"]
    assert len(msyncs) == 1, _explain(t)
    (image,) = msyncs[0].files
    assert image.path == "m.bin" and image.offset == 8192, _explain(t)
    assert image.offset + len(image.data) == 16384, "the mapping covers pages 2 and 3"
    assert (image.data[9000 - 8192], image.data[12999 - 8192]) == (7, 9)
    assert any(isinstance(e, Mmap) and e.path == "m.bin" and e.offset == 8192 for e in t.events)


def test_rename_and_unlink_are_observed_in_order(tmp_path: Path) -> None:
    def workload() -> None:
        _write_file(tmp_path / "tmp", b"new", sync=False)
        os.rename(tmp_path / "tmp", tmp_path / "live")
        os.unlink(tmp_path / "live")
        os.mkdir(tmp_path / "sub")
        os.rename(tmp_path / "sub", tmp_path / "sub2")

    t = trace(workload, tmp_path)
    names = [(type(e).__name__, getattr(e, "path", None), getattr(e, "new_path", None))
             for e in t.events if isinstance(e, (Open, Rename, Unlink))]
    assert names == [("Open", "tmp", None), ("Rename", "tmp", "live"), ("Unlink", "live", None),
                     ("Rename", "sub", "sub2")], _explain(t)
    opened = next(e for e in t.events if isinstance(e, Open))
    renamed = next(e for e in t.events if isinstance(e, Rename))
    assert opened.created and opened.inode == renamed.inode, _explain(t)
    assert [e.seq for e in t.events] == list(range(len(t.events)))


def test_ftruncate_changes_recorded_size(tmp_path: Path) -> None:
    def workload() -> None:
        fd = os.open(tmp_path / "f", os.O_CREAT | os.O_RDWR, 0o644)
        os.write(fd, b"x" * 100)
        os.ftruncate(fd, 10_000)
        os.fdatasync(fd)
        os.ftruncate(fd, 50)
        os.close(fd)

    t = trace(workload, tmp_path)
    sizes = [e.size for e in t.events if isinstance(e, Resize)]
    assert sizes == [10_000, 50], _explain(t)
    (sync,) = t.syncs()
    assert sync.files[0].size == 10_000 and sync.files[0].whole, _explain(t)
    state = ledger(t).by_path()["f"]
    assert (state.durable_size, len(state.current)) == (10_000, 50)
    assert state.written == frozenset({0, 1, 2}), "the shrink rewrote pages 0 to 2"


def test_syncs_from_a_second_thread_are_observed(tmp_path: Path) -> None:
    def workload() -> None:
        worker = threading.Thread(target=_write_file, args=(tmp_path / "t", b"thread"))
        worker.start()
        worker.join()

    t = trace(workload, tmp_path)
    (sync,) = t.syncs()
    assert sync.tid != sync.pid, f"the fsync should come from a thread{_explain(t)}"
    assert sync.files[0].data == b"thread"


def _ten_files(directory: Path) -> None:
    for i in range(10):
        _write_file(directory / f"f{i}", f"content {i}".encode(), sync=False)


def test_crash_point_kills_the_child_at_the_nth_event(tmp_path: Path) -> None:
    # Each file is three events (open, write, close): event 7 is the write of f2.
    t = trace(lambda: _ten_files(tmp_path), tmp_path, stop_at=7)
    assert t.crashed and t.exit_status == -9, _explain(t)
    assert len(t.events) == 7 and t.stopped_at is not None and t.stopped_at.seq == 7
    assert isinstance(t.stopped_at, Write) and t.stopped_at.result is None
    assert t.in_flight == (t.stopped_at,)
    assert t.final.data() == {"f0": b"content 0", "f1": b"content 1", "f2": b""}


def test_crash_point_after_an_event_lets_that_call_complete(tmp_path: Path) -> None:
    t = trace(lambda: _ten_files(tmp_path), tmp_path, stop_at=7, after=True)
    assert t.crashed and len(t.events) == 8 and t.in_flight == (), _explain(t)
    assert t.final.data()["f2"] == b"content 2"


def test_crash_point_can_be_a_predicate(tmp_path: Path) -> None:
    def workload() -> None:
        _ten_files(tmp_path)
        _write_file(tmp_path / "synced", b"s")
        _write_file(tmp_path / "never", b"n")

    t = trace(workload, tmp_path, stop_at=lambda e: isinstance(e, Sync))
    assert t.crashed and isinstance(t.stopped_at, Sync) and t.stopped_at.path == "synced"
    assert "never" not in t.final.files, _explain(t)


def test_run_to_completion_counts_every_event(tmp_path: Path) -> None:
    t = trace(lambda: _ten_files(tmp_path), tmp_path)
    assert not t.crashed and t.exit_status == 0 and t.stopped_at is None
    assert len(t.events) == 30 and sorted(t.final.files) == [f"f{i}" for i in range(10)]


def test_lmdb_commit_sync_is_observed(tmp_path: Path) -> None:
    lmdb = pytest.importorskip("lmdb")

    def workload() -> None:
        env = lmdb.open(str(tmp_path), map_size=1 << 20)
        with env.begin(write=True) as txn:
            txn.put(b"key", b"value-in-lmdb")
        env.close()

    t = trace(workload, tmp_path)
    synced = [f for s in t.syncs() for f in s.files if f.path == "data.mdb"]
    assert synced, f"an LMDB commit syncs data.mdb{_explain(t)}"
    assert any(b"value-in-lmdb" in f.data for f in synced), _explain(t)


def test_directory_fsync_makes_its_names_durable(tmp_path: Path) -> None:
    def workload() -> None:
        _write_file(tmp_path / "a", b"a")
        dfd = os.open(tmp_path, os.O_RDONLY)
        os.fsync(dfd)
        os.rename(tmp_path / "a", tmp_path / "b")
        os.close(dfd)

    t = trace(workload, tmp_path)
    (dir_sync,) = [s for s in t.syncs() if s.dirs]
    inode = os.stat(tmp_path / "b").st_ino
    assert dir_sync.dirs[0].names() == {"a": inode}, _explain(t)
    root = ledger(t).dirs["."]
    assert root.durable == {"a": inode} and root.current == {"b": inode}
    assert [e.syscall for e in root.since] == ["rename"], _explain(t)


def test_ledger_reports_pages_written_since_the_last_sync(tmp_path: Path) -> None:
    def workload() -> None:
        fd = os.open(tmp_path / "f", os.O_CREAT | os.O_RDWR, 0o644)
        os.pwrite(fd, b"a" * 8192, 0)
        os.fsync(fd)
        os.pwrite(fd, b"b", 5000)  # page 1 of 4096; sector 9 of 512
        os.pwrite(fd, b"c" * 100, 8192)  # past the end: page 2, sector 16
        os.close(fd)

    t = trace(workload, tmp_path)
    big, small = ledger(t).by_path()["f"], ledger(t, page=512).by_path()["f"]
    assert (big.durable, big.durable_size) == (b"a" * 8192, 8192)
    assert big.written == {1, 2} and small.written == {9, 16}, _explain(t)
    assert len(big.current) == 8292 and big.dirty == {1, 2}


def test_files_outside_the_watched_directory_are_ignored(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()

    def workload() -> None:
        _write_file(tmp_path / "out", b"o")
        _write_file(tmp_path / "in" / "x", b"i")

    t = trace(workload, tmp_path / "in")
    assert {getattr(e, "path", None) for e in t.events} == {"x"}, _explain(t)


def _files_and_stats(directory: Path) -> None:
    directory.mkdir()
    for _ in range(100):
        os.stat(directory)  # a syscall the filter lets through without a stop
    _ten_files(directory)


def test_without_seccomp_the_same_events_are_seen(tmp_path: Path) -> None:
    first = trace(lambda: _files_and_stats(tmp_path / "a"), tmp_path)
    second = trace(lambda: _files_and_stats(tmp_path / "b"), tmp_path, mode="syscall")
    summary = [[(e.syscall, e.path.split("/")[-1]) for e in t.events if isinstance(e, Write)]
               for t in (first, second)]
    assert summary[0] == summary[1] and len(summary[0]) == 10, _explain(second)
    assert second.stops > first.stops + 200, "without the filter, every syscall stops twice"


def test_a_command_is_traced_through_exec(tmp_path: Path) -> None:
    code = f"import os; fd = os.open({str(tmp_path / 'c')!r}, os.O_CREAT | os.O_WRONLY); os.fsync(fd)"
    t = trace([sys.executable, "-c", code], tmp_path)
    assert t.exit_status == 0 and [s.path for s in t.syncs()] == ["c"], _explain(t)


def test_a_failing_workload_reports_exit_status_one(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    def workload() -> None:
        raise RuntimeError("boom")

    t = trace(workload, tmp_path)
    assert t.exit_status == 1 and not t.crashed
    assert "boom" in capfd.readouterr().err


def test_close_of_a_watched_file_is_recorded_with_its_descriptor(tmp_path: Path) -> None:
    t = trace(lambda: _write_file(tmp_path / "a", b"a", sync=False), tmp_path)
    opened = next(e for e in t.events if isinstance(e, Open))
    closed = next(e for e in t.events if isinstance(e, Close))
    assert (closed.fd, closed.inode) == (opened.fd, opened.inode), _explain(t)


def test_syncs_of_a_subprocess_of_the_workload_are_observed(tmp_path: Path) -> None:
    import subprocess

    code = f"import os; fd = os.open({str(tmp_path / 'c')!r}, os.O_CREAT | os.O_WRONLY); os.fsync(fd)"

    def workload() -> None:
        subprocess.run([sys.executable, "-c", code], check=True)

    t = trace(workload, tmp_path)
    (sync,) = t.syncs()
    assert t.exit_status == 0 and sync.path == "c", _explain(t)
    assert sync.pid != t.pid and sync.tid == sync.pid, f"the fsync is the subprocess's{_explain(t)}"


def test_a_crash_point_kills_every_thread(tmp_path: Path) -> None:
    def workload() -> None:
        def run(k: int) -> None:
            for i in range(20):
                _write_file(tmp_path / f"t{k}-{i}", b"x")

        workers = [threading.Thread(target=run, args=(k,)) for k in range(3)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()

    t = trace(workload, tmp_path, stop_at=40)
    assert t.crashed and t.exit_status == -9, _explain(t)
    assert len(t.events) + len(t.in_flight) >= 41 and len(t.final.files) < 60, _explain(t)
