"""Scratch directories of the suites: named by host and process, and removed by the next run
once the process that made them is gone (a run killed before its clean-up must not fill
tmpfs, night after night)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from warmtier.testing import subject
from warmtier.testing.subject import owned_scratch, sweep_scratch

pytestmark = pytest.mark.own_stores


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_sweep_removes_only_this_hosts_directories_whose_process_is_gone(
        tmp_path: Path) -> None:
    host, dead = subject._HOST, _dead_pid()
    names = {
        "gone": f"warmtier-machine-{host}-{dead}-abc123",
        "gone_default_prefix": f"warmtier-{host}-{dead}-def456",
        "live": f"warmtier-crash-{host}-{os.getpid()}-ghi789",
        "other_host": f"warmtier-machine-{host}x-{dead}-jkl012",
        "unnamed": "warmtier-targeted-mno345",
        "not_ours": "something-else",
    }
    for name in names.values():
        (tmp_path / name).mkdir()
        (tmp_path / name / "store").write_bytes(b"x")
    removed = sweep_scratch(str(tmp_path))
    expected = sorted([names["gone"], names["gone_default_prefix"]])
    assert removed == expected, f"expected to remove {expected}, removed {removed}"
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted(set(names.values()) - set(expected)), f"left {left}"


def test_the_first_scratch_directory_of_a_process_sweeps_its_root_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(subject, "_SWEPT", set())
    stale = tmp_path / f"warmtier-machine-{subject._HOST}-{_dead_pid()}-abc123"
    stale.mkdir()
    made = Path(owned_scratch("warmtier-machine-", str(tmp_path)))
    assert not stale.exists(), "a dead process's directory survived the first sweep"
    assert made.name.startswith(f"warmtier-machine-{subject._HOST}-{os.getpid()}-"), made.name
    stale.mkdir()
    owned_scratch("warmtier-machine-", str(tmp_path))
    assert stale.exists(), "a root is swept once per process, not on every directory"
    assert sweep_scratch(str(tmp_path)) == [stale.name]
    assert made.exists(), "a live process's directory was removed"
