"""`fwctl apply` of N independent deployments with default flags, as ratios to N = 1.

    python benchmarks/bench_parallel_apply.py [--speed 1] [--sizes 1,20,100]

`--parallelism` (default 10) bounds the mutating requests in flight, not the resources waiting to
be ready, so N independent deployments should boot in about one boot time (goal: <= 1.2x the
N = 1 wall time at N = 100). Each N runs the `fwctl` CLI in a fresh process, with default flags,
against its own fresh `fwctl local serve` on 127.0.0.1 (so earlier runs do not slow later lists).
Besides wall time it prints what the plane recorded: the spread between the first and the last
deployment's createTime (how long the creates took to be issued), its request count and 5xx.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_apply import DEPLOYMENT_BOOT_S, KEY, serve, stack_of_deployments, stop  # noqa: E402

FWCTL = [sys.executable, "-m", "reconciler.cli"]


def apply_once(work: Path, url: str, count: int) -> float:
    stack_of_deployments(work / "stack", count, f"n{count}")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FIREWORKS_", "FWCTL_"))}
    env.update(FWCTL_ENDPOINT=url, NO_COLOR="1")
    start = time.perf_counter()
    result = subprocess.run([*FWCTL, "apply", "-f", "stack", "--auto-approve"], cwd=work, env=env,
                            capture_output=True, text=True, timeout=900)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"apply of {count} deployments failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return elapsed


def plane_figures(url: str) -> tuple[float, int, int]:
    """(createTime spread in s, requests served, 5xx) as the plane recorded them."""
    with httpx.Client(base_url=url, headers={"X-Api-Key": KEY}, timeout=30) as client:
        account = client.get("/v1/accounts", params={"pageSize": 1}).json()["accounts"][0]["name"].split("/")[-1]
        times: list[float] = []
        token = ""
        while True:
            page = client.get(f"/v1/accounts/{account}/deployments",
                              params={"pageSize": 200, "pageToken": token}).json()
            times += [datetime.fromisoformat(d["createTime"].replace("Z", "+00:00")).timestamp()
                      for d in page.get("deployments", [])]
            token = page.get("nextPageToken") or ""
            if not token:
                break
        stats = client.get("/_local/v1/stats").json()
    return max(times) - min(times), int(stats["requests"]), int(stats["server5xx"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--speed", type=float, default=1.0, help="local control plane speed factor")
    parser.add_argument("--sizes", default="1,20,100", help="comma-separated N (the first is the baseline)")
    args = parser.parse_args()
    sizes = [int(n) for n in args.sizes.split(",")]

    rows: list[tuple[int, float, float, int, int]] = []
    for count in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            proc, url = serve(work / "local.db", args.speed)
            try:
                wall = apply_once(work, url, count)
                spread, requests, errors = plane_figures(url)
            finally:
                stop(proc)
        rows.append((count, wall, spread, requests, errors))

    boot = DEPLOYMENT_BOOT_S / args.speed
    base = rows[0][1]
    print(f"fwctl apply (CLI, default flags) of N independent deployments; local plane speed {args.speed}x, "
          f"one deployment boots in {boot:.2f}s\n")
    print(f"{'N':>5} {'wall s':>8} {'ratio to N=' + str(sizes[0]):>14} {'vs boot':>8} {'creates spread s':>17} "
          f"{'requests':>9} {'5xx':>4}")
    for count, wall, spread, requests, errors in rows:
        print(f"{count:5d} {wall:8.2f} {wall / base:14.2f} {wall / boot:8.2f} {spread:17.2f} {requests:9d} {errors:4d}")


if __name__ == "__main__":
    main()
