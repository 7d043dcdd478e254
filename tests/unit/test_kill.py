"""A SIGKILLed writer loses nothing it completed: every acknowledged put is there on open."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from warmtier import WarmTierStore

pytestmark = pytest.mark.reference_only

CHILD = r"""
import os, sys
import numpy as np
from warmtier import WarmTierStore
path, ack_path = sys.argv[1], sys.argv[2]
store = WarmTierStore.create(path, dim=16, initial_capacity=4, initial_content_bytes=0)
ack = os.open(ack_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
i = 0
while True:
    store.put(f"k{i}", np.full(16, i, np.float32), b"v" * (i % 3000), 0.5)
    if i % 5 == 4:
        store.remove(f"k{i - 2}")
    os.write(ack, f"{i}\n".encode())  # acknowledged only after put (and remove) returned
    i += 1
"""


@pytest.mark.parametrize("delay", [0.3, 0.7, 1.2])
def test_sigkilled_writer_reopens_with_every_completed_put(tmp_path: Path, delay: float) -> None:
    path, ack = tmp_path / "s", tmp_path / "acks"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(path), str(ack)])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (not ack.exists() or ack.stat().st_size < 10):
        time.sleep(0.05)
    time.sleep(delay)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    lines = ack.read_text().splitlines()
    done = [int(x) for x in lines if x.strip()]
    assert done, "the child acknowledged no put before the kill"
    last = done[-1]
    with WarmTierStore.open(path) as s:
        s.check()
        for i in range(last + 1):
            removed = i % 5 == 2 and i + 2 <= last
            rec = s.get(f"k{i}")
            if i % 5 == 2 and i + 2 == last + 1 and rec is None:
                continue  # removed by the step in flight (its put and remove, then its ack)
            if removed:
                assert rec is None, f"k{i} was removed (ack {i + 2}) but came back; kill after ack {last}"
            else:
                assert rec is not None, f"completed put k{i} lost; kill after ack {last}"
                assert rec.content == b"v" * (i % 3000)
                assert rec.embedding[0] == i
        # the in-flight operation (ack last + 1) is all or nothing
        nxt = s.get(f"k{last + 1}")
        assert nxt is None or nxt.content == b"v" * ((last + 1) % 3000)
        s.put("after-recovery", [1] * 16, b"works")
    with WarmTierStore.open(path) as s:
        assert s.get("after-recovery").content == b"works"
