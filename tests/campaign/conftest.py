"""Fixtures of the campaign tests: a real ``redis-server`` on a free loopback port, and a
runner for campaign, pytest and ``warmtier`` processes from the repository root."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PLANTED = "tests.campaign.planted:DropsLastByteStore"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RedisServer:
    """One ``redis-server`` process without persistence; ``kill()`` and ``start()`` again."""

    workdir: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server vanished"
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import redis

        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        for _ in range(100):
            try:
                client.ping()
                return
            except redis.exceptions.ConnectionError:
                time.sleep(0.05)
        raise AssertionError(f"redis-server on port {self.port} did not answer")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def client(self) -> object:
        import redis

        return redis.Redis(port=self.port)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A fresh Debian ``redis-server`` on a free loopback port (a CI machine must have it:
    ``.ci/run`` installs it; elsewhere the tests are skipped, saying how to get it)."""
    if shutil.which("redis-server") is None:
        message = "redis-server is not installed (apt-get install -y redis-server)"
        if os.environ.get("CI"):
            pytest.fail(message + "; .ci/run installs it on CI machines")
        pytest.skip(message)
    server = RedisServer(tmp_path / "redis")
    server.workdir.mkdir()
    server.start()
    yield server
    server.kill()


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without pytest's and the campaign's own variables, plus ``extra``."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTEST_", "WARMTIER_SHARED_DB", "WARMTIER_CAMPAIGN"))
           and k not in ("WARMTIER_STORE", "WARMTIER_HYPOTHESIS_PROFILE", "WARMTIER_STATE_DIR",
                         "WARMTIER_HYPOTHESIS_DB")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    env.update(extra)
    return env


def machine_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of one machine: its own state directory and example database."""
    return clean_env(WARMTIER_STATE_DIR=str(home / "state"),
                     WARMTIER_HYPOTHESIS_DB=str(home / "examples"),
                     WARMTIER_MACHINE=home.name, **extra)


def campaign_argv(shard: str, out: Path, *extra: str) -> list[str]:
    """A short campaign over the store machine against the planted bug."""
    return [sys.executable, "-m", "warmtier.campaign.run", f"--shard={shard}", "--quick",
            "--suites=properties,crash", "--select=test_store_machine,test_crash_checks",
            f"--store={PLANTED}", "--workers=1", f"--out={out}", "--night=2025-01-31",
            "--pytest-arg=-k", "--pytest-arg=after_every_step or crash_checks", *extra]


def run(argv: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)
