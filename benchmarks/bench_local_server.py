"""Throughput of `fwctl local serve` under concurrent clients doing a realistic GET/PATCH mix.

Starts the server as a subprocess on 127.0.0.1 (a fresh SQLite file), seeds trainers and
deployments, then runs N concurrent clients for a bounded time. Per request: 60 % GET
deployment, 15 % GET trainer, 5 % list deployments, 5 % hot-load status, 15 % PATCH deployment
(description / annotations, every fifth one the replica counts). Prints req/s, latency p50/p99,
the count of 5xx answers and of "database is locked" errors.

    python benchmarks/bench_local_server.py [--clients 32] [--seconds 15]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

KEY = "fwctl-local-key"
ACCOUNT = "fwctl-local"
SHAPE = "accounts/fireworks/trainingShapes/qwen3-8b-128k-h200"
DEPLOY_SHAPE = "accounts/fireworks/deploymentShapes/rft-qwen3-8b"
MODEL = "accounts/fireworks/models/qwen3-8b"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(db: str, port: int) -> subprocess.Popen[bytes]:
    cmd = [
        sys.executable,
        "-m",
        "reconciler.cli",
        "local",
        "serve",
        "--port",
        str(port),
        "--db",
        db,
        "--speed",
        "20",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/_local/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("fwctl local serve did not start")


def _seed(url: str, trainers: int, deployments: int) -> tuple[list[str], list[str]]:
    jobs, deps = [], []
    with httpx.Client(base_url=url, headers={"X-Api-Key": KEY}, timeout=30) as api:
        for i in range(trainers):
            job = f"bench-trainer-{i}"
            body = {
                "serviceMode": True,
                "trainingConfig": {"baseModel": MODEL, "loraRank": 0, "learningRate": 1e-5},
            }
            api.post(
                f"/v1/accounts/{ACCOUNT}/rlorTrainerJobs",
                params={"rlorTrainerJobId": job, "trainingShape": SHAPE},
                json=body,
            ).raise_for_status()
            jobs.append(job)
        for i in range(deployments):
            dep = f"bench-dep-{i}"
            body = {
                "baseModel": MODEL,
                "deploymentShape": DEPLOY_SHAPE,
                "minReplicaCount": 1,
                "maxReplicaCount": 1,
                "hotLoadTrainerJob": f"accounts/{ACCOUNT}/rlorTrainerJobs/{jobs[i % len(jobs)]}",
            }
            api.post(
                f"/v1/accounts/{ACCOUNT}/deployments", params={"deploymentId": dep}, json=body
            ).raise_for_status()
            deps.append(dep)
    return jobs, deps


async def _client(
    url: str, jobs: list[str], deps: list[str], stop_at: float, seed: int, out: dict[str, list]
) -> None:
    rng = random.Random(seed)
    base = f"/v1/accounts/{ACCOUNT}"
    async with httpx.AsyncClient(base_url=url, headers={"X-Api-Key": KEY}, timeout=30) as client:
        n = 0
        while time.perf_counter() < stop_at:
            dep = rng.choice(deps)
            roll = rng.random()
            start = time.perf_counter()
            if roll < 0.60:
                resp = await client.get(f"{base}/deployments/{dep}")
            elif roll < 0.75:
                resp = await client.get(f"{base}/rlorTrainerJobs/{rng.choice(jobs)}")
            elif roll < 0.80:
                resp = await client.get(f"{base}/deployments", params={"pageSize": 20})
            elif roll < 0.85:
                headers = {
                    "fireworks-deployment": f"accounts/{ACCOUNT}/deployments/{dep}",
                    "fireworks-model": MODEL,
                }
                resp = await client.get("/hot_load/v1/models/hot_load", headers=headers)
            else:
                n += 1
                body: dict[str, object]
                if n % 5 == 0:
                    replicas = rng.choice([1, 2])
                    mask, body = (
                        "min_replica_count,max_replica_count",
                        {
                            "minReplicaCount": replicas,
                            "maxReplicaCount": replicas,
                        },
                    )
                else:
                    mask, body = (
                        "description,annotations",
                        {
                            "description": f"run {seed}-{n}",
                            "annotations": {"step": str(n)},
                        },
                    )
                resp = await client.patch(f"{base}/deployments/{dep}", params={"updateMask": mask}, json=body)
            out["latency"].append(time.perf_counter() - start)
            out["status"].append(resp.status_code)
            if resp.status_code >= 500 and "database is locked" in resp.text:
                out["locked"].append(1)


async def _drive(url: str, jobs: list[str], deps: list[str], clients: int, seconds: float) -> dict[str, list]:
    out: dict[str, list] = {"latency": [], "status": [], "locked": []}
    stop_at = time.perf_counter() + seconds
    await asyncio.gather(*(_client(url, jobs, deps, stop_at, i, out) for i in range(clients)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--trainers", type=int, default=16)
    parser.add_argument("--deployments", type=int, default=32)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        proc = _start(str(Path(tmp) / "bench.db"), port)
        try:
            jobs, deps = _seed(url, args.trainers, args.deployments)
            time.sleep(0.5)  # let the seeded resources reach RUNNING / READY (speed 20)
            started = time.perf_counter()
            out = asyncio.run(_drive(url, jobs, deps, args.clients, args.seconds))
            elapsed = time.perf_counter() - started
            stats = httpx.get(f"{url}/_local/v1/stats", headers={"X-Api-Key": KEY}).json()
        finally:
            proc.terminate()
            proc.wait(timeout=10)

    latencies = sorted(out["latency"])
    total = len(latencies)
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[min(total - 1, int(total * 0.99))] * 1000
    by_status: dict[int, int] = {}
    for code in out["status"]:
        by_status[code] = by_status.get(code, 0) + 1
    errors_5xx = sum(v for k, v in by_status.items() if k >= 500)
    report = {
        "clients": args.clients,
        "seconds": round(elapsed, 2),
        "requests": total,
        "req_per_s": round(total / elapsed, 1),
        "latency_ms_p50": round(p50, 2),
        "latency_ms_p99": round(p99, 2),
        "status_counts": by_status,
        "count_5xx": errors_5xx,
        "database_locked": len(out["locked"]) + int(stats.get("databaseLocked", 0)),
    }
    print(json.dumps(report, indent=2))
    target_ok = report["req_per_s"] >= 300 and errors_5xx == 0 and report["database_locked"] == 0
    print("target (>= 300 req/s, no 5xx, no 'database is locked'):", "met" if target_ok else "NOT met")
    sys.exit(0 if target_ok else 1)


if __name__ == "__main__":
    main()
