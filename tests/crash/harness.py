"""Shared by the crash and fault suites: a served local control plane, fwctl as a subprocess,
generated stacks, and the platform-side checks (no duplicates, no pending operation)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.conftest import EXAMPLES, LOCAL_KEY, LocalPlane, _free_port

FWCTL = shutil.which("fwctl", path=str(Path(sys.executable).parent)) or "fwctl"
TRAINING_SHAPE = "accounts/fireworks/trainingShapes/qwen3-8b-128k-h200"
FORWARD_SHAPE = "accounts/fireworks/trainingShapes/qwen3-8b-128k-h200-forward"
DEPLOYMENT_SHAPE = "accounts/fireworks/deploymentShapes/rft-qwen3-8b"
BASE_MODEL = "accounts/fireworks/models/qwen3-8b"
PROGRESS = re.compile(r"^\[\s*[\d.]+s\] ")  # an executor event line: "[   0.7s] Trainer/policy: ..."


def _serve(tmp: Path, port: int, speed: float, *extra: str) -> subprocess.Popen[bytes]:
    log = (tmp / "serve.log").open("ab")
    try:
        return subprocess.Popen(
            [FWCTL, "local", "serve", "--port", str(port), "--db", str(tmp / "local.db"), "--speed", str(speed),
             "--quota", "nvidia-h200-141gb=4096", *extra],  # room beyond the documented 16 GPUs (issue 15)
            stdout=log, stderr=subprocess.STDOUT,
        )
    finally:
        log.close()  # the child holds its own descriptor


def _wait_healthy(client: httpx.Client, proc: subprocess.Popen[bytes]) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while True:
        try:
            return dict(client.get("/_local/healthz").json())
        except httpx.TransportError:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("fwctl local serve did not start") from None
            time.sleep(0.05)


class RestartablePlane:
    """A served plane that can be SIGKILLed and started again on the same port and database (what an
    emulator crash and restart looks like to a running fwctl: refused connections, then the same data)."""

    def __init__(self, tmp: Path, speed: float) -> None:
        tmp.mkdir(parents=True, exist_ok=True)
        self.tmp, self.speed, self.port = tmp, speed, _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.client = httpx.Client(base_url=self.url, headers={"X-Api-Key": LOCAL_KEY}, timeout=30)
        self.proc = _serve(tmp, self.port, speed)
        self.plane = LocalPlane(self.url, str(_wait_healthy(self.client, self.proc)["account"]), self.client)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def restart(self) -> None:
        for _ in range(50):  # the port may linger a moment after the kill
            self.proc = _serve(self.tmp, self.port, self.speed)
            try:
                _wait_healthy(self.client, self.proc)
                return
            except RuntimeError:
                time.sleep(0.1)
        raise RuntimeError("fwctl local serve did not restart")

    def close(self) -> None:
        self.client.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


@contextmanager
def served_plane(tmp: Path, speed: float, *extra: str) -> Iterator[LocalPlane]:
    """`fwctl local serve` on a free port; its log goes to a file (a pipe could fill and stall it)."""
    tmp.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    log = (tmp / "serve.log").open("wb")
    proc = subprocess.Popen(
        [FWCTL, "local", "serve", "--port", str(port), "--db", str(tmp / "local.db"), "--speed", str(speed),
         "--quota", "nvidia-h200-141gb=4096", *extra],  # room beyond the documented 16 GPUs (issue 15)
        stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    client = httpx.Client(base_url=url, headers={"X-Api-Key": LOCAL_KEY}, timeout=30)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                health = client.get("/_local/healthz").json()
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("fwctl local serve did not start") from None
                time.sleep(0.1)
        yield LocalPlane(url, str(health["account"]), client)
    finally:
        client.close()
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def fwctl_env(endpoint: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FIREWORKS_", "FWCTL_"))}
    env["FWCTL_ENDPOINT"] = endpoint
    env["NO_COLOR"] = "1"
    env.update(extra or {})
    return env


def run(cwd: Path, endpoint: str, *args: str, timeout: float = 120,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([FWCTL, *args], cwd=cwd, env=fwctl_env(endpoint, env), capture_output=True, text=True,
                          timeout=timeout)


def start(cwd: Path, endpoint: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen([FWCTL, *args], cwd=cwd, env=fwctl_env(endpoint, env), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def ok(cwd: Path, endpoint: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    result = run(cwd, endpoint, *args, env=env)
    assert result.returncode == 0, f"fwctl {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return result


# -- stacks ----------------------------------------------------------------------------------------


def grpo_stack(dest: Path, stack: str) -> tuple[list[str], list[str]]:
    """The GRPO example renamed to ``stack``: (trainer names, deployment names)."""
    shutil.copytree(EXAMPLES / "grpo", dest)
    stack_file = dest / "00-stack.yaml"
    stack_file.write_text(stack_file.read_text().replace("name: grpo-qwen3-8b", f"name: {stack}"))
    return ["policy", "reference"], ["rollout"]


def wide_stack(dest: Path, stack: str, pairs: int = 6, references: int = 2) -> tuple[list[str], list[str]]:
    """``pairs`` policy trainers, each with a deployment and a perTrainer binding, plus ``references``
    forward-only references: 6 + 6 + 6 + 2 = 20 resources by default."""
    dest.mkdir(parents=True)
    docs = [f"apiVersion: fwctl/v1\nkind: Stack\nmetadata: {{name: {stack}}}\nspec:\n  region: US_VIRGINIA_1\n"]
    for i in range(pairs):
        docs.append(
            f"apiVersion: fwctl/v1\nkind: Trainer\nmetadata: {{name: t{i}}}\nspec:\n"
            f"  baseModel: {BASE_MODEL}\n  loraRank: 0\n  trainingShape: {TRAINING_SHAPE}\n"
            f"  learningRate: 1.0e-5\n  replicaCount: 1\n"
        )
        docs.append(
            f"apiVersion: fwctl/v1\nkind: Deployment\nmetadata: {{name: d{i}}}\nspec:\n"
            f"  baseModel: {BASE_MODEL}\n  deploymentShape: {DEPLOYMENT_SHAPE}\n  replicas: {{min: 1, max: 1}}\n"
            f"  hotLoad: {{enabled: true, bucketType: FW_HOSTED, transition: SYNC}}\n"
            f"  lifecycle: {{onDestroy: scaleToZero}}\n"
        )
        docs.append(
            f"apiVersion: fwctl/v1\nkind: SyncBinding\nmetadata: {{name: b{i}}}\nspec:\n"
            f"  trainer: t{i}\n  deployment: d{i}\n  scope: perTrainer\n"
        )
    for i in range(references):
        docs.append(
            f"apiVersion: fwctl/v1\nkind: ReferenceTrainer\nmetadata: {{name: r{i}}}\nspec:\n"
            f"  policy: t{i}\n  trainingShape: {FORWARD_SHAPE}\n"
        )
    (dest / "stack.yaml").write_text("---\n".join(docs))
    return [f"t{i}" for i in range(pairs)] + [f"r{i}" for i in range(references)], [f"d{i}" for i in range(pairs)]


# -- checks ----------------------------------------------------------------------------------------


@dataclass
class Watched:
    """A running fwctl whose stdout is read line by line; ``executing`` is set at its first event."""

    proc: subprocess.Popen[str]
    launched: float
    executing: threading.Event = field(default_factory=threading.Event)
    lines: list[str] = field(default_factory=list)
    first_event: float | None = None

    @classmethod
    def launch(cls, cwd: Path, endpoint: str, *args: str, env: dict[str, str] | None = None) -> Watched:
        watched = cls(start(cwd, endpoint, *args, env=env), time.monotonic())
        threading.Thread(target=watched._read, daemon=True).start()
        return watched

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)
            if PROGRESS.match(line) and not self.executing.is_set():
                self.first_event = time.monotonic() - self.launched
                self.executing.set()

    def stderr(self) -> str:
        assert self.proc.stderr is not None
        return self.proc.stderr.read()


def read_state(workdir: Path) -> dict[str, Any]:
    return dict(json.loads((workdir / ".fwctl" / "state.json").read_text()))


def assert_no_pending(workdir: Path) -> dict[str, Any]:
    state = read_state(workdir)
    pending = {a: r["pending"] for a, r in state["resources"].items() if r.get("pending")}
    assert not pending, f"dangling pending operations in state: {pending}"
    return state


def assert_no_duplicates(plane: LocalPlane, stack: str, trainers: list[str], deployments: list[str],
                         state: dict[str, Any] | None = None) -> None:
    """Exactly one live trainer job per trainer address and one deployment per deployment address,
    found through the platform's list endpoints; when given, the state names those very ones."""
    jobs = [t["name"].split("/")[-1] for t in plane.trainers() if t.get("state") != "JOB_STATE_DELETED"]
    deps = [d["name"].split("/")[-1] for d in plane.deployments() if d.get("state") not in ("DELETED", "DELETING")]
    by_address: dict[str, str] = {}
    if state is not None:
        by_address = {a.split("/", 1)[1]: str(r.get("remote_id")) for a, r in state["resources"].items()}
    for name in trainers:
        found = [j for j in jobs if re.fullmatch(rf"{re.escape(stack)}-{re.escape(name)}-[0-9a-f]{{6}}", j)]
        assert len(found) == 1, f"{stack}: trainer {name}: expected exactly one job, the platform lists {found}"
        if state is not None:
            assert by_address.get(name) == found[0], f"{stack}: state names {by_address.get(name)} for {name}, platform {found}"
    for name in deployments:
        found = [d for d in deps if d == f"{stack}-{name}"]
        assert len(found) == 1, f"{stack}: deployment {name}: expected exactly one, the platform lists {found}"
