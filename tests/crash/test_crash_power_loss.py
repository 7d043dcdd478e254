"""Simulated power loss from the system-call trace: every disk image a power cut could
leave (the synced bytes plus any subset of the pages written since, names changed since a
directory sync in order or not at all) opens, passes check(), and gives every id its
durable value or a later one. Images are opened in an isolated child: a store killed by a
signal on one is a failure naming the signal, the kept image and the replay command."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from warmtier.testing.crash.images import Choice, Disk
from warmtier.testing.crash.powerloss import SECTOR, PowerLossResult, PowerLossRun
from warmtier.testing.crash.trace import ledger, trace

#: Workloads checked in the CI gate.
QUICK_SEEDS = (1, 2)


def _run(store_class: type[Any], store_spec: str, crash_workdir: str, seed: int,
         record: Callable[[str, float], None], **options: Any) -> PowerLossResult:
    result = PowerLossRun(store_class, store_spec, crash_workdir, seed, **options).run()
    record("power-loss crash points", result.crash_points)
    record("power-loss images", result.images)
    record("distinct images opened", result.distinct_images)
    record("power-loss seconds", result.seconds)
    record("power-loss violations", len(result.failures))
    return result


def _assert_clean(result: PowerLossResult) -> None:
    assert result.crash_points > 0, f"seed {result.seed}: no crash point was captured"
    if result.failures:
        pytest.fail(f"{len(result.failures)} crash point(s) of seed {result.seed} broke the "
                    "power-loss promise; the first:\n\n" + "\n\n".join(result.failures[:2]),
                    pytrace=False)


@pytest.mark.persistent
@pytest.mark.parametrize("seed", QUICK_SEEDS)
@pytest.mark.promise("power-loss")
def test_power_cut_images_at_every_crash_point_keep_the_power_loss_promise(
        seed: int, store_class: type[Any], store_spec: str, crash_workdir: str,
        record: Callable[[str, float], None]) -> None:
    _assert_clean(_run(store_class, store_spec, crash_workdir, seed, record, ops=40))


@pytest.mark.persistent
@pytest.mark.slow
@pytest.mark.promise("power-loss")
def test_power_cut_images_of_many_workloads_keep_the_power_loss_promise(
        store_class: type[Any], store_spec: str, crash_workdir: str, crash_rounds: int,
        announced_seed: int, record: Callable[[str, float], None]) -> None:
    base = announced_seed % (1 << 30)
    for n in range(max(4, crash_rounds // 50)):
        _assert_clean(_run(store_class, store_spec, crash_workdir, base + n, record, ops=80,
                           random_images=6))


# -- the image builder: only disks a power cut can leave -----------------------------------

PAGE = 4096
linux_only = pytest.mark.skipif(sys.platform != "linux", reason="ptrace and seccomp are Linux's")


def _fd(path: Path, flags: int = os.O_RDWR | os.O_CREAT) -> int:
    return os.open(path, flags, 0o644)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _disk(tmp_path: Path, workload: Callable[[], object], *, page: int = PAGE,
          strict: bool = False) -> Disk:
    """The possible disks at the end of ``workload`` run traced in ``tmp_path`` (where a
    file ``f`` exists, empty, from the start)."""
    if not (tmp_path / "f").exists():
        (tmp_path / "f").write_bytes(b"")
    t = trace(workload, tmp_path, page=page)
    assert t.exit_status == 0, t.describe()
    return Disk(ledger(t, page, strict=strict))


def _images(disk: Disk, count: int = 40) -> list[dict[str, bytes]]:
    rng = np.random.default_rng(0)
    return [disk.build(Choice("random", number=n), rng).files for n in range(count)]


@linux_only
def test_an_image_holds_the_synced_bytes_plus_only_pages_written_since(tmp_path: Path) -> None:
    def workload() -> None:
        fd = _fd(tmp_path / "f")
        os.pwrite(fd, b"b" * (3 * PAGE), 0)
        os.fsync(fd)
        os.pwrite(fd, b"c" * PAGE, PAGE)
        os.close(fd)

    disk = _disk(tmp_path, workload)
    rng = np.random.default_rng(0)
    assert disk.build(Choice("none"), rng).files["f"] == b"b" * (3 * PAGE)
    assert disk.build(Choice("all"), rng).files["f"] == b"b" * PAGE + b"c" * PAGE + b"b" * PAGE
    seen = {image["f"][PAGE:2 * PAGE] for image in _images(disk)}
    assert seen == {b"b" * PAGE, b"c" * PAGE}, "page 1 is old or new, the others synced"
    assert all(image["f"][:PAGE] == image["f"][2 * PAGE:] == b"b" * PAGE for image in _images(disk))


@linux_only
def test_a_rename_since_the_directory_fsync_happens_in_order_with_the_creation_or_not_at_all(
        tmp_path: Path) -> None:
    (tmp_path / "CURRENT").write_bytes(b"old")

    def workload() -> None:
        (tmp_path / "CURRENT.tmp").write_bytes(b"new")
        _fsync(tmp_path / "CURRENT.tmp")
        os.replace(tmp_path / "CURRENT.tmp", tmp_path / "CURRENT")
        (tmp_path / "born").write_bytes(b"x")

    disk = _disk(tmp_path, workload)
    names = [sorted(image) for image in _images(disk, 60)]
    for image, listed in zip(_images(disk, 60), names, strict=True):
        assert image["CURRENT"] in (b"old", b"new")
        assert ("born" in listed) <= (image["CURRENT"] == b"new"), "born came after the rename"
        assert ("CURRENT.tmp" in listed) <= (image["CURRENT"] == b"old")
    assert {image["CURRENT"] for image in _images(disk, 60)} == {b"old", b"new"}
    note = disk.build(Choice("old names"), np.random.default_rng(0)).notes[-1]
    assert "rename CURRENT.tmp->CURRENT" in note and "not applied" in note, note


@linux_only
def test_a_directory_fsync_makes_the_rename_durable(tmp_path: Path) -> None:
    (tmp_path / "CURRENT").write_bytes(b"old")

    def workload() -> None:
        (tmp_path / "CURRENT.tmp").write_bytes(b"new")
        _fsync(tmp_path / "CURRENT.tmp")
        os.replace(tmp_path / "CURRENT.tmp", tmp_path / "CURRENT")
        _fsync(tmp_path)

    disk = _disk(tmp_path, workload)
    assert {image["CURRENT"] for image in _images(disk)} == {b"new"}


@linux_only
def test_a_truncation_since_the_sync_shrinks_the_file_and_never_zeroes_it(
        tmp_path: Path) -> None:
    def workload() -> None:
        fd = _fd(tmp_path / "f")
        os.pwrite(fd, b"a" * (2 * PAGE), 0)
        os.fsync(fd)
        os.ftruncate(fd, 100)
        os.close(fd)

    disk = _disk(tmp_path, workload)
    contents = {image["f"] for image in _images(disk)}
    assert contents == {b"a" * (2 * PAGE), b"a" * 100}, sorted(map(len, contents))


@linux_only
def test_msync_counts_as_durable_except_in_strict_mode(tmp_path: Path) -> None:
    (tmp_path / "m").write_bytes(bytes(2 * PAGE))

    def workload() -> None:
        m = np.memmap(tmp_path / "m", dtype=np.uint8, mode="r+")
        m[PAGE] = 7
        m.flush()

    linux = _disk(tmp_path, workload)
    (tmp_path / "m").write_bytes(bytes(2 * PAGE))
    strict = _disk(tmp_path, workload, strict=True)
    assert {image["m"][PAGE] for image in _images(linux)} == {7}
    assert {image["m"][PAGE] for image in _images(strict)} == {0, 7}


@linux_only
def test_a_write_through_o_dsync_is_durable_when_it_returns(tmp_path: Path) -> None:
    def workload() -> None:
        fd = _fd(tmp_path / "f", os.O_RDWR | os.O_CREAT | os.O_DSYNC)
        os.pwrite(fd, b"m" * PAGE, 0)
        os.close(fd)
        _fsync(tmp_path)

    disk = _disk(tmp_path, workload)
    assert {image["f"] for image in _images(disk)} == {b"m" * PAGE}
    assert "pwrite64 through O_DSYNC" in " ".join(disk.syncs())


@linux_only
def test_sector_mode_tears_a_page_into_sectors(tmp_path: Path) -> None:
    def workload() -> None:
        fd = _fd(tmp_path / "f")
        os.pwrite(fd, b"a" * PAGE, 0)
        os.fsync(fd)
        os.pwrite(fd, b"b" * PAGE, 0)
        os.close(fd)

    pages = {image["f"] for image in _images(_disk(tmp_path, workload), 20)}
    (tmp_path / "f").write_bytes(b"")
    sectors = {image["f"] for image in _images(_disk(tmp_path, workload, page=SECTOR), 20)}
    assert pages == {b"a" * PAGE, b"b" * PAGE}
    assert any(len(set(data)) == 2 for data in sectors), "some image mixes old and new sectors"


@linux_only
def test_the_adversarial_images_include_each_changed_file_alone_and_all_but_it(
        tmp_path: Path) -> None:
    for name in ("slots", "content", "quiet"):
        (tmp_path / name).write_bytes(bytes(2 * PAGE))

    def workload() -> None:
        for name, fill in (("slots", b"s"), ("content", b"c")):
            fd = _fd(tmp_path / name)
            os.pwrite(fd, fill * PAGE, 0)
            os.close(fd)

    disk = _disk(tmp_path, workload)
    labels = [c.label for c in disk.choices(0)]
    assert {"only slots", "except slots", "only content", "except content", "headers",
            "old sizes", "old names"} <= set(labels)
    assert "only quiet" not in labels
    rng = np.random.default_rng(2)
    slots_only = disk.build(Choice("only", "slots"), rng)
    assert slots_only.files["slots"][:PAGE] == b"s" * PAGE
    assert slots_only.files["content"] == bytes(2 * PAGE)
    assert any(note.startswith("slots: pages 0 of 1 dirty") for note in slots_only.notes)
