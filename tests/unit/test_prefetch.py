"""A writer's next chunks of the files are mapped ahead on a thread of their own: the
page-cache work for fresh pages leaves the put's path, no byte changes, and the thread
survives closed files and forks."""

from __future__ import annotations

import ctypes
import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from warmtier import WarmTierStore
from warmtier.mapped import PREFAULT_BYTES, MappedFile, prefault_works
from warmtier.prefetch import AHEAD, request

pytestmark = [
    pytest.mark.reference_only,
    pytest.mark.skipif(not prefault_works(), reason="no MADV_POPULATE_WRITE (Linux 5.14)"),
]

PAGE = 4096
DIM = 256  # a row of 1 KiB: 1,024 rows a chunk


def _resident(f: MappedFile, start: int, stop: int) -> int:
    """How many pages of ``[start, stop)`` of ``f`` are in the page cache (mincore)."""
    pages = (stop - start) // PAGE
    vec = (ctypes.c_ubyte * pages)()
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.mincore(ctypes.c_void_p(f.u8.ctypes.data + start),
                        ctypes.c_size_t(stop - start), vec) == 0, ctypes.get_errno()
    return int((np.frombuffer(vec, np.uint8) & 1).sum())


def _until(predicate: object, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.01)
    return False


def test_a_put_has_the_next_chunks_of_rows_mapped_ahead_without_writing_them(
        tmp_path: Path) -> None:
    chunk = PREFAULT_BYTES  # bytes of rows per chunk
    with WarmTierStore.create(tmp_path / "s", dim=DIM,
                              initial_capacity=(AHEAD + 4) * chunk // (4 * DIM)) as s:
        emb_file = s._emb_file
        assert emb_file is not None
        s.put("a", np.ones(DIM, np.float32), b"x")
        ahead = (chunk, (AHEAD + 1) * chunk)
        want = (ahead[1] - ahead[0]) // PAGE
        assert _until(lambda: _resident(emb_file, *ahead) == want), (
            f"expected the {want} pages of the {AHEAD} chunks after the first mapped ahead, "
            f"found {_resident(emb_file, *ahead)}")
        assert not emb_file.u8[chunk:].any(), "mapping ahead changed the bytes"
        assert s.get("a") is not None


def test_requests_for_a_closed_file_do_nothing_and_the_thread_goes_on(
        tmp_path: Path) -> None:
    closed = MappedFile(str(tmp_path / "closed"), create_size=4 * PREFAULT_BYTES)
    closed.close()
    request(closed, 0, 4 * PREFAULT_BYTES)
    live = MappedFile(str(tmp_path / "live"), create_size=2 * PREFAULT_BYTES)
    request(live, 0, PREFAULT_BYTES)
    assert _until(lambda: _resident(live, 0, PREFAULT_BYTES) == PREFAULT_BYTES // PAGE), (
        "the prefetch thread stopped after a request for a closed file")
    assert any(t.name == "warmtier-prefetch" for t in threading.enumerate())
    live.close()


def test_a_forked_child_maps_ahead_on_a_thread_of_its_own(tmp_path: Path) -> None:
    parent = MappedFile(str(tmp_path / "parent"), create_size=PREFAULT_BYTES)
    request(parent, 0, PREFAULT_BYTES)  # the parent's thread is running
    pid = os.fork()
    if pid == 0:  # the child: no prefetch thread until its first request
        signal.alarm(20)
        f = MappedFile(str(tmp_path / "child"), create_size=PREFAULT_BYTES)
        request(f, 0, PREFAULT_BYTES)
        ok = _until(lambda: _resident(f, 0, PREFAULT_BYTES) == PREFAULT_BYTES // PAGE)
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, (
        f"the forked child's request was not served (exit status {status})")
    parent.close()
