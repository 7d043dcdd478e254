"""The command line: demo creates a working store, info prints stats, check finds damage."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.reference_only


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "warmtier", *args], capture_output=True,
                          text=True, timeout=120)


def test_demo_info_and_check_work_on_a_fresh_store(tmp_path: Path) -> None:
    store = str(tmp_path / "demo")
    demo = run("demo", store)
    assert demo.returncode == 0, demo.stderr
    assert "doc-apple" in demo.stdout
    info = run("info", store)
    assert info.returncode == 0, info.stderr
    assert json.loads(info.stdout)["records"] == 5
    check = run("check", store)
    assert check.returncode == 0 and "ok" in check.stdout


def test_check_exits_1_listing_violations_on_a_damaged_store(tmp_path: Path) -> None:
    store = tmp_path / "demo"
    assert run("demo", str(store)).returncode == 0
    slots = store / "slots.0"
    raw = bytearray(slots.read_bytes())
    raw[4096 + 400] ^= 0xFF
    slots.write_bytes(bytes(raw))
    check = run("check", str(store))
    assert check.returncode == 1
    assert "CORRUPT" in check.stdout + check.stderr
    assert "checksum" in check.stdout + check.stderr


def test_info_on_a_missing_store_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    result = run("info", str(tmp_path / "nope"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
