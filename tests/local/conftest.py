"""Fixtures for the local control plane: a real `fwctl local serve` on 127.0.0.1, fast SDK polling."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import time as _real_time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

KEY = "fwctl-local-key"
ACCOUNT = "fwctl-local"
SPEED = 100.0
QWEN8B = "accounts/fireworks/models/qwen3-8b"
QWEN4B = "accounts/fireworks/models/qwen3-4b"
LLAMA = "accounts/fireworks/models/llama-v3p1-8b-instruct"
POLICY_SHAPE = "accounts/fireworks/trainingShapes/qwen3-8b-128k-h200"
FORWARD_SHAPE = "accounts/fireworks/trainingShapes/qwen3-8b-128k-h200-forward"
LORA_SHAPE = "accounts/fireworks/trainingShapes/qwen3-8b-128k-lora"
DEPLOY_SHAPE = "accounts/fireworks/deploymentShapes/rft-qwen3-8b"
DEPLOY_SHAPE_4B = "accounts/fireworks/deploymentShapes/rft-qwen3-4b"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LocalServer:
    """A `fwctl local serve` subprocess."""

    url: str
    db: str
    proc: subprocess.Popen[bytes]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def start_server(db: str, *extra: str, speed: float = SPEED) -> LocalServer:
    port = free_port()
    cmd = [sys.executable, "-m", "reconciler.cli", "local", "serve", "--port", str(port), "--db", db]
    # Room beyond the documented 16 GPUs per type (issue 15): the session's server runs many trainers.
    cmd += ["--speed", str(speed), "--quota", "nvidia-h200-141gb=4096", "--quota", "nvidia-h100-80gb=4096", *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 20
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"fwctl local serve exited: {proc.stderr.read().decode() if proc.stderr else ''}"
            )
        try:
            if httpx.get(f"{url}/_local/healthz", timeout=1).status_code == 200:
                return LocalServer(url=url, db=db, proc=proc)
        except httpx.HTTPError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("fwctl local serve did not start within 20 s")


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    srv = start_server(str(tmp_path_factory.mktemp("local") / "local.db"))
    yield srv
    srv.stop()


@pytest.fixture
def api(server: LocalServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, headers={"X-Api-Key": KEY}, timeout=30) as client:
        yield client
    # standing faults must never leak into the next test
    httpx.delete(f"{server.url}/_local/v1/faults", headers={"X-Api-Key": KEY})


@pytest.fixture
def uid() -> Callable[[str], str]:
    return lambda prefix: f"{prefix}-{uuid.uuid4().hex[:8]}"


class FastTime:
    """Stands in for the `time` module inside the SDK so its 2-15 s sleeps take 20 ms."""

    time = staticmethod(_real_time.time)
    monotonic = staticmethod(_real_time.monotonic)

    @staticmethod
    def sleep(seconds: float) -> None:
        _real_time.sleep(min(seconds, 0.02))


@pytest.fixture
def fast_sdk(monkeypatch: pytest.MonkeyPatch) -> None:
    from fireworks.training.sdk import deployment, errors, trainer

    for module in (deployment, trainer, errors):
        monkeypatch.setattr(module, "time", FastTime)


def wait_state(
    api: httpx.Client, path: str, wanted: str | set[str], timeout: float = 10.0, key: str = "state"
) -> dict[str, Any]:
    targets = {wanted} if isinstance(wanted, str) else wanted
    deadline = time.time() + timeout
    body: dict[str, Any] = {}
    while time.time() < deadline:
        resp = api.get(path)
        body = resp.json()
        if resp.status_code == 200 and body.get(key) in targets:
            return body
        time.sleep(0.01)
    raise AssertionError(f"{path} never reached {targets}; last answer {body}")


def trainer_body(base_model: str = QWEN8B, **extra: Any) -> dict[str, Any]:
    config = {"baseModel": base_model, "loraRank": 0, "learningRate": 1e-5}
    config.update(extra.pop("trainingConfig", {}))
    return {
        "serviceMode": True,
        "keepAlive": False,
        "dataset": "",
        "trainingConfig": config,
        "useReservation": True,
        **extra,
    }


def create_trainer(
    api: httpx.Client, job: str, *, shape: str | None = POLICY_SHAPE, running: bool = True, **body: Any
) -> dict[str, Any]:
    params = {"rlorTrainerJobId": job}
    if shape:
        params["trainingShape"] = shape
    resp = api.post(f"/v1/accounts/{ACCOUNT}/rlorTrainerJobs", params=params, json=trainer_body(**body))
    assert resp.status_code == 200, resp.text
    if running:
        return wait_state(api, f"/v1/accounts/{ACCOUNT}/rlorTrainerJobs/{job}", "JOB_STATE_RUNNING")
    return dict(resp.json())


def create_deployment(
    api: httpx.Client, dep: str, *, trainer: str | None = None, ready: bool = True, **body: Any
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "baseModel": QWEN8B,
        "description": "test",
        "minReplicaCount": 1,
        "maxReplicaCount": 1,
        "enableHotLoad": True,
        "forTraining": True,
        "hotLoadBucketType": "FW_HOSTED",
        "deploymentShape": DEPLOY_SHAPE,
    }
    if trainer:
        payload["hotLoadTrainerJob"] = f"accounts/{ACCOUNT}/rlorTrainerJobs/{trainer}"
    payload.update(body)
    resp = api.post(f"/v1/accounts/{ACCOUNT}/deployments", params={"deploymentId": dep}, json=payload)
    assert resp.status_code == 200, resp.text
    if ready:
        return wait_state(api, f"/v1/accounts/{ACCOUNT}/deployments/{dep}", "READY")
    return dict(resp.json())


def inspect(api: httpx.Client, path: str) -> dict[str, Any]:
    """The local plane's whole record behind a public path (``/v1/accounts/...``): what the public
    answer leaves out (the resolved training shape, accelerators, annotations, ...)."""
    resp = api.get(f"/_local{path}")
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def snapshot(api: httpx.Client, job: str, name: str) -> str:
    resp = api.post(f"/_local/v1/accounts/{ACCOUNT}/rlorTrainerJobs/{job}/snapshots", json={"name": name})
    assert resp.status_code == 200, resp.text
    return str(resp.json()["identity"])


def hotload_headers(dep: str, model: str = QWEN8B) -> dict[str, str]:
    return {"fireworks-deployment": f"accounts/{ACCOUNT}/deployments/{dep}", "fireworks-model": model}


os.environ.setdefault("TINKER_TELEMETRY", "0")
