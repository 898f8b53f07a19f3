"""End-to-end fixtures: a real `fwctl local serve` on 127.0.0.1 and the fwctl CLI as a user runs it."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "manifests" / "examples"
LOCAL_KEY = "fwctl-local-key"
SPEED = "25"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LocalPlane:
    url: str
    account: str
    client: httpx.Client

    def _read(self, path: str, **params: Any) -> httpx.Response:
        """A GET that rides out the faults a test may have injected (drops, 429/5xx): checks must not flake."""
        for _ in range(20):
            try:
                response = self.client.get(path, params=params)
            except httpx.TransportError:
                time.sleep(0.05)
                continue
            if response.status_code not in (429, 500, 502, 503, 504):
                return response
            time.sleep(0.05)
        raise AssertionError(f"GET {path} kept failing")

    def get(self, path: str, **params: Any) -> Any:
        response = self._read(path, **params)
        response.raise_for_status()
        return response.json()

    def trainers(self) -> list[dict[str, Any]]:
        return list(self.get(f"/v1/accounts/{self.account}/rlorTrainerJobs", pageSize=200).get("rlorTrainerJobs", []))

    def trainer(self, job_id: str) -> dict[str, Any] | None:
        response = self._read(f"/v1/accounts/{self.account}/rlorTrainerJobs/{job_id}")
        return None if response.status_code == 404 else response.json()

    def deployments(self) -> list[dict[str, Any]]:
        return list(self.get(f"/v1/accounts/{self.account}/deployments", pageSize=200).get("deployments", []))

    def deployment(self, dep_id: str) -> dict[str, Any] | None:
        response = self._read(f"/v1/accounts/{self.account}/deployments/{dep_id}")
        return None if response.status_code == 404 else response.json()

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        response = self.client.request(method, path, json=body)
        response.raise_for_status()
        return response.json() if response.content else None


# The local plane enforces the documented GPU quotas (16 per type, issue 15); tests of other behaviour get
# room (createBeforeDestroy holds two policy jobs at once). tests/e2e/test_cost_quota.py sets its own.
ROOMY_QUOTAS = ("--quota", "nvidia-h200-141gb=1024", "--quota", "nvidia-h100-80gb=1024")


@contextmanager
def served_plane(db: Path, speed: str = SPEED) -> Iterator[LocalPlane]:
    """`fwctl local serve` on a free 127.0.0.1 port with its database at ``db``, until the block ends."""
    port = _free_port()
    fwctl = shutil.which("fwctl", path=str(Path(sys.executable).parent)) or "fwctl"
    proc = subprocess.Popen(
        [fwctl, "local", "serve", "--port", str(port), "--db", str(db), "--speed", speed, *ROOMY_QUOTAS],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    client = httpx.Client(base_url=url, headers={"X-Api-Key": LOCAL_KEY}, timeout=10)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                accounts = client.get("/v1/accounts", params={"pageSize": 2}).json()
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("fwctl local serve did not start") from None
                time.sleep(0.1)
        account = accounts["accounts"][0]["name"].split("/")[-1]
        yield LocalPlane(url, account, client)
    finally:
        client.close()
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def local_plane(tmp_path: Path) -> Iterator[LocalPlane]:
    with served_plane(tmp_path / "local.db") as plane:
        yield plane


@dataclass
class Fwctl:
    """Runs the real `fwctl` executable in a working directory, as a user (or a pipeline) would."""

    cwd: Path
    endpoint: str
    env: dict[str, str] = field(default_factory=dict)  # more environment, e.g. for the embedded plane

    def __call__(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("FIREWORKS_", "FWCTL_"))}
        env["FWCTL_ENDPOINT"] = self.endpoint
        env["NO_COLOR"] = "1"
        env.update(self.env)
        fwctl = shutil.which("fwctl", path=str(Path(sys.executable).parent)) or "fwctl"
        return subprocess.run([fwctl, *args], cwd=self.cwd, env=env, input=input, capture_output=True,
                              text=True, timeout=300)

    def ok(self, *args: str) -> subprocess.CompletedProcess[str]:
        result = self(*args)
        assert result.returncode == 0, f"fwctl {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
        return result


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    work = tmp_path / "work"
    shutil.copytree(EXAMPLES / "grpo", work / "grpo")
    return work


@pytest.fixture
def fwctl(workdir: Path, local_plane: LocalPlane) -> Fwctl:
    return Fwctl(workdir, local_plane.url)
