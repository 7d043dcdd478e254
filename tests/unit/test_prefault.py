"""Writers map pages ahead a chunk per system call (``MADV_POPULATE_WRITE``) instead of
taking a page fault per page: the bytes never change, the faults go away, and a kernel
without the call still gets a working store."""

from __future__ import annotations

import ctypes
import resource
from pathlib import Path

import numpy as np
import numpy.typing as npt
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


def _resident_pages(f: MappedFile) -> npt.NDArray[np.bool_]:
    """Which pages of ``f`` are in the page cache (``mincore``)."""
    libc = ctypes.CDLL(None, use_errno=True)
    pages = -(-f.size // PAGE)
    vec = (ctypes.c_ubyte * pages)()
    if libc.mincore(ctypes.c_void_p(f.u8.ctypes.data), ctypes.c_size_t(f.size), vec) != 0:
        pytest.skip(f"mincore failed: {ctypes.get_errno()}")
    return np.frombuffer(vec, np.uint8) & 1 == 1


def _advice_flags(f: MappedFile) -> set[str]:
    """The VmFlags of the mapping that holds ``f``'s first byte (/proc/self/smaps)."""
    address, flags, inside = f.u8.ctypes.data, set[str](), False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        head = line.split()[0]
        if "-" in head and not head.endswith(":"):
            lo, hi = (int(x, 16) for x in head.split("-"))
            inside = lo <= address < hi
        elif inside and head == "VmFlags:":
            flags = set(line.split()[1:])
    return flags


def test_prefault_maps_only_the_pages_asked_for_and_leaves_the_mapping_advised_normal(
        tmp_path: Path) -> None:
    """No read-around: it made a writer allocate and zero ``read_ahead_kb`` of fresh
    pages at a time (8 MiB on some machines), stalling a put for milliseconds."""
    f = MappedFile(str(tmp_path / "f"), create_size=64 * PREFAULT_BYTES)
    if not _Prefault.works:
        pytest.skip("this kernel has no MADV_POPULATE_WRITE (Linux 5.14)")
    chunk = 5 * PREFAULT_BYTES
    f.prefault(chunk, chunk + PREFAULT_BYTES)
    resident = np.flatnonzero(_resident_pages(f)) * PAGE
    assert resident.size == PREFAULT_BYTES // PAGE, (
        f"expected exactly the {PREFAULT_BYTES // PAGE} pages of [{chunk}, "
        f"{chunk + PREFAULT_BYTES}) in the page cache, found {resident.size} from byte "
        f"{resident.min()} to {resident.max() + PAGE}")
    assert resident.min() == chunk
    assert not {"rr", "sr"} & _advice_flags(f), "the mapping kept a read advice"
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
