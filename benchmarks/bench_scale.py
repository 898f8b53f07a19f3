"""fwctl at scale against the local control plane, measured in one run.

    python benchmarks/bench_scale.py [--speed 4] [--rate-limit 20] [--rate-resources 200]
                                     [--plan-resources 1000] [--runs 7]

Every control plane is a `fwctl local serve` subprocess on 127.0.0.1; the provider and executor
are driven in-process (the code `fwctl apply` runs) so requests and retries can be read off the
provider, except where a subprocess is named.

  (a) apply wall time vs the critical path of emulated boot times: the GRPO example (4 resources)
      and a generated 50-resource stack (10 x policy + reference + deployment + binding, and 10
      independent deployments);
  (b) apply of N independent deployments against a plane started with --rate-limit R (requests/s):
      completes, provider requests and retries, the plane's 429 count, zero errors;
  (c) plan of a 1,000-resource stack, both before it exists (1,000 creates) and once applied (no
      changes): wall time and requests in-process, tracemalloc peak in-process, and max RSS of a
      subprocess `fwctl plan` (os.wait4);
  (d) cold start: `fwctl --help` and a no-op `fwctl plan` (the applied GRPO example on the served
      plane), each a fresh process, median of --runs, vs `python -c pass`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
import uuid
from pathlib import Path

import httpx

from reconciler.executor import Executor, Poll, StateRecorder, initial_state
from reconciler.manifest import load_manifests
from reconciler.model.plan import Plan
from reconciler.planner import PlanRequest, plan_changes
from reconciler.provider import FireworksProvider
from reconciler.refresh import refresh
from reconciler.state import LocalFileBackend

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_apply import (  # noqa: E402
    DEPLOYMENT_BOOT_S,
    KEY,
    TRAINER_BOOT_S,
    serve,
    stack_of_deployments,
    stop,
)

FWCTL = [sys.executable, "-m", "reconciler.cli"]


def grpo_stack(directory: Path, groups: int, extra_deployments: int, name: str) -> int:
    """`groups` x (policy, reference, deployment, binding) + independent deployments; returns the count."""
    docs = [f"apiVersion: fwctl/v1\nkind: Stack\nmetadata: {{name: {name}}}\nspec: {{}}\n"]
    for g in range(groups):
        docs += [
            "apiVersion: fwctl/v1\nkind: Trainer\n"
            f"metadata: {{name: policy{g:02d}}}\n"
            "spec:\n  baseModel: accounts/fireworks/models/qwen3-8b\n"
            "  trainingShape: accounts/fireworks/trainingShapes/qwen3-8b-128k-h200\n",
            "apiVersion: fwctl/v1\nkind: ReferenceTrainer\n"
            f"metadata: {{name: reference{g:02d}}}\n"
            f"spec:\n  policy: policy{g:02d}\n"
            "  trainingShape: accounts/fireworks/trainingShapes/qwen3-8b-128k-h200-forward\n",
            "apiVersion: fwctl/v1\nkind: Deployment\n"
            f"metadata: {{name: rollout{g:02d}}}\n"
            "spec:\n  baseModel: accounts/fireworks/models/qwen3-8b\n"
            "  deploymentShape: accounts/fireworks/deploymentShapes/rft-qwen3-8b\n"
            "  replicas: {min: 1, max: 1}\n  hotLoad: {enabled: true}\n",
            "apiVersion: fwctl/v1\nkind: SyncBinding\n"
            f"metadata: {{name: sync{g:02d}}}\n"
            f"spec: {{trainer: policy{g:02d}, deployment: rollout{g:02d}}}\n",
        ]
    for i in range(extra_deployments):
        docs.append(
            "apiVersion: fwctl/v1\nkind: Deployment\n"
            f"metadata: {{name: d{i:04d}}}\n"
            "spec:\n  baseModel: accounts/fireworks/models/qwen3-4b\n"
            "  deploymentShape: accounts/fireworks/deploymentShapes/rft-qwen3-4b\n"
            "  replicas: {min: 1, max: 1}\n"
        )
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "stack.yaml").write_text("---\n".join(docs))
    return len(docs) - 1


async def _plan(provider: FireworksProvider, url: str, manifests_dir: Path, backend: LocalFileBackend,
                quota: list[int] | None = None) -> Plan:
    manifests = load_manifests([str(manifests_dir)])
    prior = backend.read()
    observed = await refresh(provider, manifests.stack_name, manifests.resources, prior)
    plan = plan_changes(PlanRequest(stack=manifests.stack_name, endpoint=url, observed=observed, prior=prior,
                                    resources=manifests.resources, manifests_digest=manifests.digest,
                                    id_seed=prior.lineage if prior else str(uuid.uuid4())))
    if quota is not None:  # issue 15: what the quota check adds to a plan (fwctl plan runs it)
        from reconciler.cost import price_plan
        from reconciler.model.prices import packaged_prices
        from reconciler.operations._limits import quota_check

        before = provider.requests
        problems = await quota_check(provider, price_plan(plan, observed, packaged_prices()), observed)
        quota += [provider.requests - before, len(problems)]
    return plan


async def apply_dir(url: str, manifests_dir: Path, state_path: Path,
                    parallelism: int) -> tuple[float, int, int, int, int]:
    """In-process plan + apply. Returns (wall s, requests, retries, changes, errors)."""
    backend = LocalFileBackend(str(state_path))
    async with FireworksProvider(url, KEY, max_concurrency=64) as provider:
        start = time.perf_counter()
        plan = await _plan(provider, url, manifests_dir, backend)
        prior = backend.read()
        doc = prior or initial_state(plan.stack, plan.state_lineage, url, plan.account, "bench")
        executor = Executor(provider, StateRecorder(backend, doc), parallelism=parallelism, poll=Poll())
        result = await executor.apply(plan)
        elapsed = time.perf_counter() - start
        errors = len(result.failed) + len(result.skipped)
        return elapsed, provider.requests, provider.retries, len(plan.pending), errors


QUOTA_REQUESTS: list[int] = []  # extra requests of each measured plan's quota check (issue 15)


async def plan_dir(url: str, manifests_dir: Path, state_path: Path) -> tuple[float, int, int, int]:
    """In-process plan. Returns (wall s, requests, pending changes, tracemalloc peak bytes of a second plan)."""
    backend = LocalFileBackend(str(state_path))
    async with FireworksProvider(url, KEY, max_concurrency=64) as provider:
        start = time.perf_counter()
        quota: list[int] = []
        plan = await _plan(provider, url, manifests_dir, backend, quota)
        elapsed = time.perf_counter() - start
        requests = provider.requests - quota[0]
        QUOTA_REQUESTS.append(quota[0])
    async with FireworksProvider(url, KEY, max_concurrency=64) as provider:  # again, traced (tracemalloc is slow)
        tracemalloc.start()
        await _plan(provider, url, manifests_dir, backend)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return elapsed, requests, len(plan.pending), peak


def cli_env(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FIREWORKS_", "FWCTL_"))}
    env.update(FWCTL_ENDPOINT=url, NO_COLOR="1", PYTHONDONTWRITEBYTECODE="1")
    return env


def run_measured(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, int, int]:
    """Run a subprocess; returns (wall s, exit code, max RSS in KiB) of that one child."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return elapsed, proc.returncode, usage.ru_maxrss


def median_run(argv: list[str], cwd: Path, env: dict[str, str], runs: int, ok: tuple[int, ...] = (0,)) -> float:
    run_measured(argv, cwd, env)  # warm the OS file cache
    times = []
    for _ in range(runs):
        elapsed, code, _ = run_measured(argv, cwd, env)
        if code not in ok:
            raise SystemExit(f"{' '.join(argv)} exited {code}")
        times.append(elapsed)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--speed", type=float, default=4.0, help="local control plane speed factor")
    parser.add_argument("--rate-limit", type=float, default=20.0, help="requests/s of the rate-limited plane")
    parser.add_argument("--rate-resources", type=int, default=200)
    parser.add_argument("--plan-resources", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=7, help="cold-start runs per command (median)")
    args = parser.parse_args()
    trainer_s, deploy_s = TRAINER_BOOT_S / args.speed, DEPLOYMENT_BOOT_S / args.speed

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        proc, url = serve(work / "local.db", args.speed)
        try:
            # (a) apply vs the critical path: every trainer and deployment boots concurrently; the
            # binding needs its trainer and its deployment ready -> max(trainer, deployment) boot.
            shutil.copytree(REPO / "manifests/examples/grpo", work / "grpo")
            critical = max(trainer_s, deploy_s)
            grpo = asyncio.run(apply_dir(url, work / "grpo", work / "grpo" / ".fwctl" / "state.json", 10))
            count = grpo_stack(work / "fifty", 10, 10, "fifty")
            fifty = asyncio.run(apply_dir(url, work / "fifty", work / "fifty.json", 50))

            # (c) plan of a large stack: before it exists (all creates), then applied (no changes)
            stack_of_deployments(work / "big", args.plan_resources, "big")
            big_state = work / "big" / ".fwctl" / "state.json"
            fresh_plan = asyncio.run(plan_dir(url, work / "big", big_state))
            env = cli_env(url)
            plan_cmd = [*FWCTL, "plan", "-f", "stack.yaml", "--detailed-exitcode"]
            fresh_cli = run_measured(plan_cmd, work / "big", env)
            big_apply = asyncio.run(apply_dir(url, work / "big", big_state, 100))
            applied_plan = asyncio.run(plan_dir(url, work / "big", big_state))
            applied_cli = run_measured(plan_cmd, work / "big", env)

            # (d) cold start
            python_s = median_run([sys.executable, "-c", "pass"], work, env, args.runs)
            help_s = median_run([*FWCTL, "--help"], work, env, args.runs)
            noop_s = median_run([*FWCTL, "plan", "-f", ".", "--detailed-exitcode"], work / "grpo", env, args.runs)
        finally:
            stop(proc)

        # (b) a rate-limited plane of its own
        proc, url = serve(work / "limited.db", args.speed, "--rate-limit", str(args.rate_limit))
        try:
            stack_of_deployments(work / "limited", args.rate_resources, "limited")
            limited = asyncio.run(apply_dir(url, work / "limited", work / "limited.json", args.rate_resources))
            stats = httpx.get(f"{url}/_local/v1/stats", headers={"X-Api-Key": KEY}, timeout=10).json()
        finally:
            stop(proc)

    print(f"local control plane speed {args.speed:g}x on 127.0.0.1 (emulated boot: trainer {trainer_s:.2f}s, "
          f"deployment {deploy_s:.2f}s)\n")
    print("(a) apply vs the critical path of emulated boot times (in-process provider + executor)")
    print(f"{'stack':42} {'changes':>7} {'wall s':>8} {'critical s':>10} {'ratio':>6} {'requests':>8} {'errors':>6}")
    for label, (wall, requests, _, changes, errors) in (("GRPO example", grpo),
                                                         (f"generated {count}-resource stack", fifty)):
        print(f"{label:42} {changes:7d} {wall:8.2f} {critical:10.2f} {wall / critical:6.2f} {requests:8d} "
              f"{errors:6d}")

    wall, requests, retries, changes, errors = limited
    rate_limited = stats.get("rate_limited", stats.get("rateLimited", "?"))
    print(f"\n(b) apply of {args.rate_resources} deployments against --rate-limit {args.rate_limit:g} req/s")
    print(f"{'changes':>7} {'wall s':>8} {'requests':>8} {'retries':>7} {'429s served':>11} {'req/s':>6} "
          f"{'errors':>6}")
    print(f"{changes:7d} {wall:8.2f} {requests:8d} {retries:7d} {rate_limited!s:>11} {requests / wall:6.1f} "
          f"{errors:6d}")

    print(f"\n(c) plan of {args.plan_resources} resources")
    print(f"{'case':38} {'pending':>7} {'wall s':>8} {'requests':>8} {'tracemalloc MiB':>15} "
          f"{'CLI wall s':>10} {'CLI maxrss MiB':>14}")
    for label, (wall, requests, pending, peak), (cli_wall, _, rss) in (
        ("not applied yet (all creates)", fresh_plan, fresh_cli),
        ("applied (no changes)", applied_plan, applied_cli),
    ):
        print(f"{label:38} {pending:7d} {wall:8.2f} {requests:8d} {peak / 2**20:15.1f} {cli_wall:10.2f} "
              f"{rss / 1024:14.1f}")
    print(f"(the GPU quota check of each plan: {' and '.join(map(str, QUOTA_REQUESTS))} extra requests; "
          "included in CLI wall s, not in requests)")
    print(f"(applying the {args.plan_resources} first: {big_apply[0]:.2f}s, {big_apply[1]} requests, "
          f"{big_apply[4]} errors)")

    print(f"\n(d) cold start, fresh process each, median of {args.runs} (fwctl = python -m reconciler.cli)")
    print(f"{'command':46} {'median ms':>9} {'x python':>8}")
    for label, seconds in (("python -c pass", python_s), ("fwctl --help", help_s),
                           ("fwctl plan (no-op, applied GRPO, served plane)", noop_s)):
        print(f"{label:46} {seconds * 1000:9.1f} {seconds / python_s:8.1f}")


if __name__ == "__main__":
    main()
