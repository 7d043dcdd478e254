"""Simulated power loss: every disk image a power cut could leave (the last fsynced bytes
plus any subset of the pages written since, creations and renames whole or not at all)
opens, passes check(), and gives every id its durable value or a later one. Images are
opened in an isolated child: a store killed by a signal on one is a failure naming the
signal, the kept image and the replay command."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from warmtier.testing.crash.powerloss import (
    PAGE,
    DurabilityTracker,
    PowerLossResult,
    PowerLossRun,
    adversarial_modes,
    build_image,
)

#: Workloads checked in the CI gate.
QUICK_SEEDS = (1, 2)


def _run(store_class: type[Any], store_spec: str, crash_workdir: str, seed: int,
         record: Callable[[str, float], None], **options: Any) -> PowerLossResult:
    result = PowerLossRun(store_class, store_spec, crash_workdir, seed, **options).run()
    record("power-loss crash points", result.crash_points)
    record("power-loss images", result.images)
    record("distinct images opened", result.distinct_images)
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


# -- the image builder itself -------------------------------------------------------------


def _write(path: str, data: bytes) -> None:
    with open(path, "r+b" if os.path.exists(path) else "wb") as f:
        f.write(data)


def _fsync(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def test_an_image_holds_the_fsynced_bytes_plus_only_pages_written_since(crash_workdir: str) -> None:
    d = os.path.join(crash_workdir, "d")
    os.mkdir(d)
    f = os.path.join(d, "f")
    _write(f, b"a" * (3 * PAGE))
    with DurabilityTracker(d) as tracker:
        _write(f, b"b" * (3 * PAGE))
        _fsync(f)
        with open(f, "r+b") as out:
            out.seek(PAGE)
            out.write(b"c" * PAGE)
        cap = tracker.capture("test")
    rng = np.random.default_rng(0)
    assert build_image(cap, ("none", ""), rng)["f"] == b"b" * (3 * PAGE)
    assert build_image(cap, ("all", ""), rng)["f"] == b"b" * PAGE + b"c" * PAGE + b"b" * PAGE
    for _ in range(20):
        data = build_image(cap, ("random", ""), rng)["f"]
        pages = {data[i : i + PAGE] for i in range(0, len(data), PAGE)}
        assert data[:PAGE] == data[2 * PAGE :] == b"b" * PAGE and pages <= {b"b" * PAGE,
                                                                          b"c" * PAGE}


def test_a_file_created_or_renamed_over_since_the_directory_fsync_is_old_or_new_whole(
        crash_workdir: str) -> None:
    d = os.path.join(crash_workdir, "d")
    os.mkdir(d)
    _write(os.path.join(d, "CURRENT"), b"old")
    with DurabilityTracker(d) as tracker:
        tmp = os.path.join(d, "CURRENT.tmp")
        _write(tmp, b"new")
        _fsync(tmp)
        os.replace(tmp, os.path.join(d, "CURRENT"))
        _write(os.path.join(d, "born"), b"x")
        cap = tracker.capture("before the directory fsync")
        _fsync(d)
        after = tracker.capture("after the directory fsync")
    rng = np.random.default_rng(1)
    seen = set()
    for _ in range(40):
        image = build_image(cap, ("random", ""), rng)
        assert image["CURRENT"] in (b"old", b"new")
        # never fsynced: absent, empty, or its one page written or not
        assert image.get("born") in (None, b"", b"\0", b"x")
        assert "CURRENT.tmp" not in image
        seen.add(image["CURRENT"])
    assert seen == {b"old", b"new"}
    assert build_image(cap, ("none", ""), rng)["CURRENT"] == b"old"
    assert build_image(after, ("none", ""), rng)["CURRENT"] == b"new"
    assert build_image(after, ("none", ""), rng)["born"] == b"x"


def test_the_adversarial_images_include_each_changed_file_alone_and_all_but_it(
        crash_workdir: str) -> None:
    d = os.path.join(crash_workdir, "d")
    os.mkdir(d)
    for name in ("slots", "content", "quiet"):
        _write(os.path.join(d, name), bytes(2 * PAGE))
    with DurabilityTracker(d) as tracker:
        _write(os.path.join(d, "slots"), b"s" * PAGE)
        _write(os.path.join(d, "content"), b"c" * (2 * PAGE))
        cap = tracker.capture("test")
    modes = adversarial_modes(cap)
    assert {("only", "slots"), ("except", "slots"), ("only", "content"),
            ("except", "content"), ("headers", "")} <= set(modes)
    assert ("only", "quiet") not in modes
    rng = np.random.default_rng(2)
    slots_only = build_image(cap, ("only", "slots"), rng)
    assert slots_only["slots"][:PAGE] == b"s" * PAGE and slots_only["content"] == bytes(2 * PAGE)
    headers = build_image(cap, ("headers", ""), rng)
    assert headers["content"] == b"c" * PAGE + bytes(PAGE)
