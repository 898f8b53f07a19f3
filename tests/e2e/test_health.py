"""Trainer health over the Tinker protocol, with the real `tinker` client.

The probe runs against a real `fwctl local serve` trainer gateway. For the mismatch case a small
gateway on 127.0.0.1 sits in front of the local control plane and forwards every request to it,
except the capabilities, which it answers with another model: what a trainer of the wrong model
would say. fwctl's own code is not mocked.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from reconciler.health import HealthError, probe_trainer
from tests.e2e.conftest import LOCAL_KEY, REPO, Fwctl, LocalPlane
from tests.e2e.test_lifecycle import outputs

MODEL = "accounts/fireworks/models/qwen3-8b"
OTHER_MODEL = "accounts/fireworks/models/llama-v3p1-8b-instruct"

TRAINER = f"""\
apiVersion: fwctl/v1
kind: Stack
metadata: {{name: health}}
---
apiVersion: fwctl/v1
kind: Trainer
metadata: {{name: policy}}
spec:
  baseModel: {MODEL}
  loraRank: 16
  learningRate: 5.0e-5
  maxContextLength: 32768           # no trainingShape: fwctl/the platform picks one
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def lying_gateway(local_plane: LocalPlane) -> Iterator[str]:
    """A forwarding proxy to the local control plane whose trainers report another model."""
    upstream = httpx.AsyncClient(base_url=local_plane.url, timeout=30)

    async def forward(request: Request) -> Response:
        path = request.url.path
        if path.endswith("/api/v1/get_server_capabilities"):
            return JSONResponse({"supported_models": [
                {"model_name": OTHER_MODEL, "max_context_length": 131072, "trainable": True, "sampleable": False}]})
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        response = await upstream.request(request.method, path, params=request.query_params,
                                          content=await request.body(), headers=headers)
        drop = ("content-length", "content-encoding", "transfer-encoding", "connection")
        return Response(response.content, status_code=response.status_code,
                        headers={k: v for k, v in response.headers.items() if k.lower() not in drop})

    app = Starlette(routes=[Route("/{path:path}", forward, methods=["GET", "POST", "PATCH", "DELETE", "PUT"])])
    with serve(app) as url:
        yield url


@contextlib.contextmanager
def serve(app: Starlette) -> Iterator[str]:
    """Serve an ASGI app on 127.0.0.1 in a background thread."""
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_a_tinker_client_stuck_in_its_retries_is_abandoned_at_the_deadline() -> None:
    """healthz answers but the Tinker API is down (5xx): the client would retry for minutes."""
    def b64(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    jwt = f"{b64({'alg': 'HS256', 'typ': 'JWT'})}.{b64({'sub': 'j', 'exp': int(time.time()) + 3600})}.c2ln"

    async def handle(request: Request) -> Response:
        rest = request.path_params["rest"]
        if rest == "healthz":
            return JSONResponse({"status": "ok"})
        if rest == "auth/token":
            return JSONResponse({"jwt": jwt})
        if rest == "telemetry":
            return JSONResponse({"status": "accepted"})
        return JSONResponse({"detail": "overloaded"}, status_code=503)

    app = Starlette(routes=[Route("/gw/api/v1/{rest:path}", handle, methods=["GET", "POST"])])
    # In a process of its own: tinker builds clients under one process-wide lock, so a client stuck
    # in its retries would hold up every later probe in this pytest process (fwctl is a process per command).
    script = (
        "import asyncio, sys\n"
        "from reconciler.health import HealthError, probe_trainer\n"
        "try:\n"
        f"    asyncio.run(probe_trainer(sys.argv[1], {LOCAL_KEY!r}, base_model={MODEL!r}, "
        "max_context_length=None, timeout_s=3))\n"
        "except HealthError as exc:\n"
        "    print(exc)\n"
        "    sys.exit(1)\n"
    )
    with serve(app) as url:
        started = time.monotonic()
        result = subprocess.run([sys.executable, "-c", script, f"{url}/gw"], capture_output=True, text=True,
                                timeout=60, cwd=REPO)
        elapsed = time.monotonic() - started
    assert result.returncode == 1, result.stdout + result.stderr
    assert "the tinker client got no capabilities from" in result.stdout
    assert re.search(r"within [123]s", result.stdout), result.stdout  # what was left of the 3 s budget
    assert elapsed < 10, f"the probe (and its process) must end at the deadline, took {elapsed:.1f}s"


def test_probe_with_the_real_tinker_client(fwctl: Fwctl, local_plane: LocalPlane, workdir: Path) -> None:
    (workdir / "health").mkdir()
    (workdir / "health" / "trainer.yaml").write_text(TRAINER)
    result = fwctl("apply", "-f", "health", "--auto-approve", "-vv")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"tinker client via the JWT exchange: capabilities list {MODEL}" in result.stderr, result.stderr
    job_id = outputs(fwctl)["Trainer/policy"]["job_id"]
    gateway = f"{local_plane.url}/training/v1/rlorTrainerJobs/{local_plane.account}/{job_id}"

    asyncio.run(probe_trainer(gateway, LOCAL_KEY, base_model=MODEL, max_context_length=32768, timeout_s=30))
    asyncio.run(probe_trainer(gateway, LOCAL_KEY, base_model=MODEL, max_context_length=None, timeout_s=30))
    with pytest.raises(HealthError, match="max context length .* is 32768, less than the declared maxContextLength 65536"):
        asyncio.run(probe_trainer(gateway, LOCAL_KEY, base_model=MODEL, max_context_length=65536, timeout_s=30))
    with pytest.raises(HealthError, match=f"not the declared base model {OTHER_MODEL}"):
        asyncio.run(probe_trainer(gateway, LOCAL_KEY, base_model=OTHER_MODEL, max_context_length=None, timeout_s=30))
    with pytest.raises(HealthError, match="healthz answered 40[14]"):
        asyncio.run(probe_trainer(gateway, "wrong-key", base_model=MODEL, max_context_length=None, timeout_s=30))


def test_probe_of_a_dead_port_fails_fast() -> None:
    started = time.monotonic()
    with pytest.raises(HealthError, match="unreachable"):
        asyncio.run(probe_trainer(f"http://127.0.0.1:{_free_port()}/training/v1/rlorTrainerJobs/a/j", LOCAL_KEY,
                                  base_model=MODEL, max_context_length=None, timeout_s=30))
    assert time.monotonic() - started < 5, "the tinker client's retry loop must never start against a dead port"


def test_apply_fails_when_the_trainer_reports_another_model(
    workdir: Path, local_plane: LocalPlane, lying_gateway: str
) -> None:
    (workdir / "health").mkdir()
    (workdir / "health" / "trainer.yaml").write_text(TRAINER)
    fwctl = Fwctl(workdir, lying_gateway)
    result = fwctl("apply", "-f", "health", "--auto-approve")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Trainer/policy: trainer job" in result.stderr and "failed its health check" in result.stderr
    assert f"the trainer serves {OTHER_MODEL}, not the declared base model {MODEL}" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
