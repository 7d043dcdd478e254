"""A full disk (or a failing one) during create, growth and compaction: a typed error, and
nothing changed, nothing leaked.

ENOSPC and EDQUOT become CapacityError; any other OSError passes through as itself. Either
way the store (or the empty path, for create) is as it was, no file descriptor is left
open and no half-written generation stays on disk. The faults are injected by replacing
``os.posix_fallocate``, which every growth of the reference store goes through.
"""

from __future__ import annotations

import errno
import gc
import os
from pathlib import Path

import numpy as np
import pytest

from warmtier import CapacityError, WarmTierStore
from warmtier.testing.crash.workload import snapshot

pytestmark = pytest.mark.reference_only

FAULTS = [(errno.ENOSPC, CapacityError), (errno.EDQUOT, CapacityError), (errno.EIO, OSError)]


def _open_fds() -> set[str]:
    """The process's descriptors once unreachable objects are gone (an earlier test's
    garbage, a store in a traceback's cycle, closes its mappings whenever it is collected)."""
    gc.collect()
    return set(os.listdir("/proc/self/fd"))


class Disk:
    """``fail(code, after=n)``: every reservation of disk space after the next ``n`` fails
    with ``code``; ``heal()``: reservations work again."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self._monkeypatch = monkeypatch

    def fail(self, code: int, *, after: int = 0) -> None:
        real, left = os.posix_fallocate, [after]

        def fallocate(fd: int, offset: int, length: int) -> None:
            if left[0] > 0:
                left[0] -= 1
                return real(fd, offset, length)
            raise OSError(code, os.strerror(code))
        self._monkeypatch.setattr(os, "posix_fallocate", fallocate)

    def heal(self) -> None:
        self._monkeypatch.undo()


@pytest.fixture
def disk(monkeypatch: pytest.MonkeyPatch) -> Disk:
    return Disk(monkeypatch)


@pytest.mark.parametrize(("code", "error"), FAULTS, ids=[errno.errorcode[c] for c, _ in FAULTS])
@pytest.mark.parametrize("exists", [True, False], ids=["empty_dir", "absent"])
def test_a_failed_create_leaves_the_path_as_it_was(
    tmp_path: Path, disk: Disk, code: int, error: type[Exception], exists: bool
) -> None:
    path = tmp_path / "s"
    if exists:
        path.mkdir()
    fds = _open_fds()
    disk.fail(code)
    with pytest.raises(error) as info:
        WarmTierStore.create(path, dim=4)
    assert error is OSError or "cannot create a store in" in str(info.value)
    assert getattr(info.value, "errno", None) == (code if error is OSError else None)
    assert _open_fds() == fds, "the failed create left a file descriptor open"
    if exists:
        assert list(path.iterdir()) == [], "the failed create left files behind"
    else:
        assert not path.exists(), "the failed create left the directory behind"
    disk.heal()
    with WarmTierStore.create(path, dim=4) as s:  # the path can be created after all
        s.put("a", [1, 2, 3, 4], b"x")


#: Which file's growth fails: the slots' growth grows the embeddings file first, so its
#: failure comes either at the embeddings file or once that one has grown.
GROWTHS = {"embeddings": ("embeddings", 0), "slots": ("slots", 1), "content": ("content", 0)}


@pytest.mark.parametrize(("code", "error"), FAULTS, ids=[errno.errorcode[c] for c, _ in FAULTS])
@pytest.mark.parametrize("grows", list(GROWTHS))
def test_a_failed_growth_is_typed_and_changes_nothing(
    tmp_path: Path, disk: Disk, code: int, error: type[Exception],
    grows: str,
) -> None:
    capacity = 4 if grows == "content" else 2
    with WarmTierStore.create(tmp_path / "s", dim=2, initial_capacity=capacity,
                              initial_content_bytes=4096) as s:
        s.put("a", [1, 0], b"a" * 100)
        s.put("b", [0, 1], b"b" * 100)
        before, sizes = snapshot(s), s.stats()
        fds = _open_fds()
        name, after = GROWTHS[grows]
        disk.fail(code, after=after)
        # a third slot needs bigger slot files; 8000 bytes need a bigger arena
        new = ("a", [1, 1], b"x" * 8000) if grows == "content" else ("c", [1, 1], b"c")
        with pytest.raises(error) as info:
            s.put(*new)
        if error is CapacityError:
            assert "cannot grow" in str(info.value) and f"{os.sep}{name}.0 to" in str(info.value)
        else:
            assert info.value.errno == code
        assert snapshot(s) == before and s.stats() == sizes
        assert _open_fds() == fds
        s.check()
        disk.heal()
        s.put(*new)
        assert s.get(new[0]).content == new[2]
    with WarmTierStore.open(tmp_path / "s") as s:
        assert s.get(new[0]).content == new[2]


@pytest.mark.parametrize(("code", "error"), FAULTS, ids=[errno.errorcode[c] for c, _ in FAULTS])
def test_a_failed_compaction_is_typed_and_leaves_no_new_generation(
    tmp_path: Path, disk: Disk, code: int, error: type[Exception]
) -> None:
    path = tmp_path / "s"
    with WarmTierStore.create(path, dim=2) as s:
        for i in range(20):
            s.put(f"k{i}", np.array([1, i], np.float32), bytes([i]) * (i * 10))
        for i in range(0, 20, 2):
            s.remove(f"k{i}")
        before = snapshot(s)
        s.flush()
        files = sorted(os.listdir(path))
        fds = _open_fds()
        disk.fail(code)
        with pytest.raises(error) as info:
            s.compact()
        if error is CapacityError:
            assert "no space to compact" in str(info.value)
        else:
            assert info.value.errno == code
        assert sorted(os.listdir(path)) == files, "a half-made generation stayed on disk"
        assert _open_fds() == fds, "the failed compaction left a file descriptor open"
        assert snapshot(s) == before
        s.check()
        disk.heal()
        s.compact()
        assert snapshot(s) == before
    with WarmTierStore.open(path) as s:
        assert snapshot(s) == before
