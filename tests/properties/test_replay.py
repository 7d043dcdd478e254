"""The replay promise: a failing machine prints one `Replay: nox -s properties -- ...`
line, and running that command reproduces the same failure."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from warmtier.testing.compare import nox_to_pytest_argv

ROOT = Path(__file__).resolve().parents[2]
MACHINE_TEST = (
    "tests/properties/test_store_machine.py::test_store_agrees_with_model_after_every_step"
)
BROKEN = "broken_models:LenCountsRemovedModel"


def _pytest(args: list[str], db: Path) -> tuple[int, str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "tests" / "properties"),
                                       os.environ.get("PYTHONPATH", "")]),
        "WARMTIER_HYPOTHESIS_DB": str(db),
    }
    env.pop("WARMTIER_STORE", None)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    return proc.returncode, proc.stdout + proc.stderr


def _failure(output: str) -> str:
    """The first line of the store mismatch a run reports."""
    match = re.search(r"^E\s+(warmtier\.testing\.compare\.StoreMismatch: .*)$", output, re.M)
    assert match, f"no StoreMismatch in the output:\n{output[-3000:]}"
    return match.group(1)


@pytest.mark.reference_only  # tests our machinery with its own broken model, not the store
def test_printed_replay_commands_reproduce_the_same_failure(tmp_path: Path) -> None:
    code, first = _pytest(
        [MACHINE_TEST, f"--warmtier-store={BROKEN}", "--hypothesis-profile=ci"],
        tmp_path / "db-first",
    )
    assert code == 1, f"expected the broken store to fail the machine; exit {code}:\n{first[-3000:]}"
    # pytest may repeat the exception in its summary (in CI it does not truncate it).
    lines = {line.strip() for line in re.findall(r"Replay: (nox -s properties -- \S.*)$",
                                                 first, re.M)}
    assert len(lines) == 1, f"expected exactly one Replay command, got {lines}:\n{first[-3000:]}"
    command = lines.pop()
    assert f"--warmtier-store={BROKEN}" in command and "--warmtier-replay=" in command, command

    # The exact command, in a fresh example database: only the blob can reproduce it.
    code, again = _pytest(nox_to_pytest_argv(command), tmp_path / "db-replay")
    assert code == 1, f"the replay command passed; expected the failure again:\n{again[-3000:]}"
    assert _failure(again) == _failure(first), (
        f"replay reproduced a different failure\n  expected: {_failure(first)}\n"
        f"  actual:   {_failure(again)}\n  command: {command}"
    )

    # The seed command of the assertion message searches again and finds the same bug.
    seeds = re.findall(r"search again from the same seed: (nox -s properties -- .*)$", first, re.M)
    assert seeds, f"no seed command in the assertion message:\n{first[-3000:]}"
    code, again = _pytest(nox_to_pytest_argv(seeds[0].strip()), tmp_path / "db-seed")
    assert code == 1, f"the seed command passed; expected the failure again:\n{again[-3000:]}"
    assert _failure(again) == _failure(first), (
        f"the same seed found a different failure\n  expected: {_failure(first)}\n"
        f"  actual:   {_failure(again)}\n  command: {seeds[0]}"
    )
