"""Writers map pages ahead a chunk per system call (``MADV_POPULATE_WRITE``) instead of
taking a page fault per page: the bytes never change, the faults go away, and a kernel
without the call still gets a working store."""

from __future__ import annotations

import resource
from pathlib import Path

import numpy as np
import pytest

from warmtier import WarmTierStore
from warmtier.mapped import PREFAULT_BYTES, MappedFile, _Prefault

pytestmark = pytest.mark.reference_only

PAGE = 4096


def _minor_faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def test_prefault_leaves_every_byte_as_it_was_and_stops_at_the_end_of_the_file(
        tmp_path: Path) -> None:
    f = MappedFile(str(tmp_path / "f"), create_size=3 * PAGE + 100)
    pattern = np.arange(f.size, dtype=np.uint64).astype(np.uint8)
    f.u8[:] = pattern
    f.prefault(0, f.size * 4)  # past the end: clamped, no SIGBUS
    f.prefault(PAGE + 7, 2 * PAGE)  # unaligned start
    assert np.array_equal(f.u8, pattern), "prefault changed the mapped bytes"
    f.sync()
    assert (tmp_path / "f").read_bytes() == pattern.tobytes()
    f.close()


def test_writes_into_prefaulted_pages_take_no_page_faults(tmp_path: Path) -> None:
    pages = 1024
    f = MappedFile(str(tmp_path / "f"), create_size=pages * PAGE)
    if not _Prefault.works:
        pytest.skip("this kernel has no MADV_POPULATE_WRITE (Linux 5.14)")
    f.prefault(0, f.size)
    before = _minor_faults()
    for page in range(pages):
        f.u8[page * PAGE] = 1
    faults = _minor_faults() - before
    assert faults < pages // 8, f"{faults} page faults writing {pages} prefaulted pages"
    f.close()


def test_a_store_works_the_same_where_the_kernel_cannot_prefault(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_Prefault, "works", False)
    rows = PREFAULT_BYTES // (4 * 8) + 3  # into a second chunk of rows
    with WarmTierStore.create(tmp_path / "s", dim=8, initial_capacity=4) as s:
        for i in range(rows):
            s.put(f"k{i}", np.full(8, i + 1, np.float32), b"c" * (i % 5000))
        s.check()
    with WarmTierStore.open(tmp_path / "s") as s:
        got = s.get(f"k{rows - 1}")
        assert got is not None and got.embedding[0] == rows and len(got.content) == (
            (rows - 1) % 5000)
        assert len(s) == rows
