"""Apply and plan against the local control plane, measured in one run.

    python benchmarks/bench_apply.py [--speed 4] [--deployments 100] [--plan-resources 500]

Prints, on `fwctl local serve` over HTTP on 127.0.0.1:
  * apply of the GRPO example vs the critical path of its emulated boot times (target <= 1.2x);
  * apply of N independent deployments vs one deployment's boot time;
  * plan (no changes) of a large stack: wall time and HTTP requests.
The provider and executor are driven in-process (the same code `fwctl apply` runs) so that the
request count can be read off the provider; the control plane is a separate process.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from reconciler.executor import Executor, Poll, StateRecorder, initial_state
from reconciler.manifest import load_manifests
from reconciler.planner import PlanRequest, plan_changes
from reconciler.provider import FireworksProvider
from reconciler.refresh import refresh
from reconciler.state import LocalFileBackend

REPO = Path(__file__).resolve().parents[1]
KEY = "fwctl-local-key"
# Emulated durations at speed 1 (reconciler/local): trainer 4 s creating + 2 s pending; deployment 6 s.
TRAINER_BOOT_S = 6.0
DEPLOYMENT_BOOT_S = 6.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# The benchmarks measure speed at scale, not quota: lift the local plane's GPU quotas (16 per type).
BENCH_QUOTAS = ("--quota", "nvidia-h200-141gb=1000000", "--quota", "nvidia-h100-80gb=1000000")


def serve(db: Path, speed: float, *extra: str) -> tuple[subprocess.Popen[bytes], str]:
    """A `fwctl local serve` subprocess on a free 127.0.0.1 port, once it answers (shared by the benchmarks)."""
    port = free_port()
    fwctl = shutil.which("fwctl", path=str(Path(sys.executable).parent)) or "fwctl"
    proc = subprocess.Popen([fwctl, "local", "serve", "--port", str(port), "--db", str(db), "--speed", str(speed),
                             *BENCH_QUOTAS, *extra], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{url}/_local/healthz", timeout=1)
            return proc, url
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("fwctl local serve did not start")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def stack_of_deployments(directory: Path, count: int, name: str) -> None:
    docs = [f"apiVersion: fwctl/v1\nkind: Stack\nmetadata: {{name: {name}}}\nspec: {{}}\n"]
    for i in range(count):
        docs.append(
            "apiVersion: fwctl/v1\nkind: Deployment\n"
            f"metadata: {{name: d{i:04d}}}\n"
            "spec:\n  baseModel: accounts/fireworks/models/qwen3-4b\n"
            "  deploymentShape: accounts/fireworks/deploymentShapes/rft-qwen3-4b\n"
            "  replicas: {min: 1, max: 1}\n"
        )
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "stack.yaml").write_text("---\n".join(docs))


async def apply_dir(url: str, manifests_dir: Path, state_path: Path, parallelism: int) -> tuple[float, int, int]:
    manifests = load_manifests([str(manifests_dir)])
    backend = LocalFileBackend(str(state_path))
    prior = backend.read()
    async with FireworksProvider(url, KEY, max_concurrency=64) as provider:
        start = time.perf_counter()
        observed = await refresh(provider, manifests.stack_name, manifests.resources, prior)
        seed = prior.lineage if prior else str(uuid.uuid4())
        plan = plan_changes(PlanRequest(stack=manifests.stack_name, endpoint=url, observed=observed, prior=prior,
                                        resources=manifests.resources, manifests_digest=manifests.digest,
                                        id_seed=seed))
        doc = prior or initial_state(manifests.stack_name, plan.state_lineage, url, plan.account, "bench")
        executor = Executor(provider, StateRecorder(backend, doc), parallelism=parallelism, poll=Poll())
        result = await executor.apply(plan)
        elapsed = time.perf_counter() - start
        if not result.ok:
            raise SystemExit(f"apply failed: {result.failed or result.skipped}")
        return elapsed, provider.requests, len(plan.pending)


async def plan_only(url: str, manifests_dir: Path, state_path: Path) -> tuple[float, int, int]:
    manifests = load_manifests([str(manifests_dir)])
    prior = LocalFileBackend(str(state_path)).read()
    async with FireworksProvider(url, KEY, max_concurrency=64) as provider:
        start = time.perf_counter()
        observed = await refresh(provider, manifests.stack_name, manifests.resources, prior)
        plan = plan_changes(PlanRequest(stack=manifests.stack_name, endpoint=url, observed=observed, prior=prior,
                                        resources=manifests.resources, manifests_digest=manifests.digest,
                                        id_seed=prior.lineage if prior else ""))
        return time.perf_counter() - start, provider.requests, len(plan.pending)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--speed", type=float, default=4.0, help="local control plane speed factor")
    parser.add_argument("--deployments", type=int, default=100)
    parser.add_argument("--plan-resources", type=int, default=500)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        proc, url = serve(work / "local.db", args.speed)
        try:
            rows = []
            # 1. GRPO: critical path = max(policy boot, reference boot, deployment boot) + binding check.
            shutil.copytree(REPO / "manifests/examples/grpo", work / "grpo")
            grpo_s, grpo_req, _ = asyncio.run(apply_dir(url, work / "grpo", work / "grpo.json", 10))
            critical = max(TRAINER_BOOT_S, DEPLOYMENT_BOOT_S) / args.speed
            rows.append(("apply GRPO example (4 resources)", grpo_s, critical, grpo_req))

            # 2. N independent deployments vs one deployment's boot time.
            stack_of_deployments(work / "many", args.deployments, "many")
            many_s, many_req, _ = asyncio.run(apply_dir(url, work / "many", work / "many.json", args.deployments))
            rows.append((f"apply {args.deployments} independent deployments", many_s,
                         DEPLOYMENT_BOOT_S / args.speed, many_req))

            # 3. plan of a large stack (already applied: a no-change plan is the common case).
            stack_of_deployments(work / "big", args.plan_resources, "big")
            asyncio.run(apply_dir(url, work / "big", work / "big.json", 100))
            plan_s, plan_req, pending = asyncio.run(plan_only(url, work / "big", work / "big.json"))
        finally:
            proc.terminate()
            proc.wait(timeout=10)

    print(f"local control plane speed {args.speed}x (emulated boot: trainer {TRAINER_BOOT_S / args.speed:.2f}s, "
          f"deployment {DEPLOYMENT_BOOT_S / args.speed:.2f}s)\n")
    print(f"{'measurement':48} {'wall s':>8} {'ideal s':>8} {'ratio':>7} {'requests':>9}")
    for label, wall, ideal, requests in rows:
        print(f"{label:48} {wall:8.2f} {ideal:8.2f} {wall / ideal:7.2f} {requests:9d}")
    print(f"{f'plan of {args.plan_resources} resources (no changes: {pending})':48} {plan_s:8.2f} "
          f"{'':>8} {'':>7} {plan_req:9d}")


if __name__ == "__main__":
    main()
