"""fwctl apply of the GRPO example vs the official SDK's imperative bootstrap of the same stack.

    python benchmarks/bench_vs_sdk.py [--speed 1] [--runs 1] [--fast-poll 1.0]

Everything runs in one process tree against one `fwctl local serve` on 127.0.0.1 (identical
emulated timings for every row; at --speed 1 a trainer boots in 6 s and a deployment in 6 s):

  * fwctl: the real CLI, `fwctl apply -f grpo --auto-approve`, as a subprocess with
    FWCTL_ENDPOINT pointing at the served plane (process start-up included);
  * SDK, sequential: what the SDK's README shows, one step after the other —
    TrainerJobManager.create_and_wait(policy), .create_and_wait(reference, forward-only),
    DeploymentManager.create_or_get(hotLoadTrainerJob=policy) + wait_for_ready;
  * SDK, parallel: the layout of the SDK's own managed bootstrap
    (fireworks.training.sdk.managed._create_managed_tinker_client): create the policy, then
    in a 3-thread pool wait for the policy, create_and_wait the reference, and create the
    deployment (attached to the policy job) + wait_for_ready concurrently.

The SDK rows use the SDK's default poll intervals (trainer 5 s, deployment 15 s) — what a user
gets — and, as further rows, the same code with every poll interval set to --fast-poll seconds.
Every row uses fresh ids; every SDK request and decision is the SDK's own, unchanged.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_apply import KEY, serve  # noqa: E402

QWEN8B = "accounts/fireworks/models/qwen3-8b"
POLICY_SHAPE = "accounts/fireworks/trainingShapes/qwen3-8b-128k-h200"
FORWARD_SHAPE = "accounts/fireworks/trainingShapes/qwen3-8b-128k-h200-forward"
TRAINER_BOOT_S = 6.0
DEPLOYMENT_BOOT_S = 6.0


def fwctl_apply(url: str, work: Path) -> float:
    """The real `fwctl apply` of manifests/examples/grpo, in a fresh working directory."""
    run_dir = work / f"fwctl-{uuid.uuid4().hex[:6]}"
    shutil.copytree(REPO / "manifests/examples/grpo", run_dir / "grpo")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FIREWORKS_", "FWCTL_"))}
    env.update(FWCTL_ENDPOINT=url, NO_COLOR="1")
    fwctl = shutil.which("fwctl", path=str(Path(sys.executable).parent)) or "fwctl"
    start = time.perf_counter()
    result = subprocess.run([fwctl, "apply", "-f", "grpo", "--auto-approve"], cwd=run_dir, env=env,
                            capture_output=True, text=True, timeout=600)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"fwctl apply failed:\n{result.stdout}\n{result.stderr}")
    return elapsed


class SdkBootstrap:
    """The GRPO stack as a careful SDK user bootstraps it, with fresh ids."""

    def __init__(self, url: str, poll_s: float | None):
        from fireworks.training.sdk import DeploymentManager, TrainerJobConfig, TrainerJobManager

        self.trainers = TrainerJobManager(api_key=KEY, base_url=url)
        self.deployments = DeploymentManager(api_key=KEY, base_url=url)
        # None: the SDK's defaults (trainer POLL_INTERVAL_S = 5 s, DEPLOYMENT_READY_POLL_S = 15 s)
        self.poll: dict[str, float] = {} if poll_s is None else {"poll_interval_s": poll_s}
        tag = uuid.uuid4().hex[:6]
        self.deployment_id = f"sdk-rollout-{tag}"
        self.policy = TrainerJobConfig(base_model=QWEN8B, training_shape_ref=POLICY_SHAPE, learning_rate=1e-5,
                                       display_name="grpo policy", requested_job_id=f"sdk-policy-{tag}")
        self.reference = TrainerJobConfig(base_model=QWEN8B, training_shape_ref=FORWARD_SHAPE, forward_only=True,
                                          requested_job_id=f"sdk-reference-{tag}")

    def wait_policy(self, job_id: str, job_name: str) -> object:
        return self.trainers.wait_for_ready(job_id, job_name=job_name, **self.poll)

    def create_reference(self) -> object:
        return self.trainers.create_and_wait(self.reference, **self.poll)

    def create_deployment(self, policy_job_name: str) -> object:
        from fireworks.training.sdk import DeploymentConfig

        profile = self.trainers.resolve_training_profile(POLICY_SHAPE)
        config = DeploymentConfig.from_training_profile(
            deployment_id=self.deployment_id, base_model=QWEN8B, profile=profile,
            hot_load_trainer_job=policy_job_name, hot_load_transition_type="SYNC",
            min_replica_count=1, max_replica_count=1, for_training=True,
        )
        info = self.deployments.create_or_get(config)
        if info.state != "READY":
            info = self.deployments.wait_for_ready(self.deployment_id, **self.poll)
        if info.hot_load_trainer_job != policy_job_name:
            raise SystemExit(f"deployment {self.deployment_id} is not attached to {policy_job_name}")
        return info


def sdk_sequential(url: str, poll_s: float | None) -> float:
    sdk = SdkBootstrap(url, poll_s)
    start = time.perf_counter()
    policy = sdk.trainers.create_and_wait(sdk.policy, **sdk.poll)
    sdk.create_reference()
    sdk.create_deployment(policy.job_name)
    return time.perf_counter() - start


def sdk_parallel(url: str, poll_s: float | None) -> float:
    sdk = SdkBootstrap(url, poll_s)
    start = time.perf_counter()
    created = sdk.trainers.create(sdk.policy)
    with ThreadPoolExecutor(max_workers=3, thread_name_prefix="sdk-provision") as pool:
        futures = [pool.submit(sdk.wait_policy, created.job_id, created.job_name),
                   pool.submit(sdk.create_reference),
                   pool.submit(sdk.create_deployment, created.job_name)]
        for future in futures:
            future.result()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--speed", type=float, default=1.0, help="local control plane speed factor")
    parser.add_argument("--runs", type=int, default=1, help="runs of each row (the median is shown)")
    parser.add_argument("--fast-poll", type=float, default=1.0,
                        help="SDK poll interval (s) for the extra rows; 0 to skip them")
    args = parser.parse_args()

    rows: list[tuple[str, Callable[[str, Path], float]]] = [
        ("fwctl apply (CLI subprocess)", lambda url, work: fwctl_apply(url, work)),
        ("SDK sequential, default polls (5 s / 15 s)", lambda url, _: sdk_sequential(url, None)),
        ("SDK parallel (managed layout), default polls", lambda url, _: sdk_parallel(url, None)),
    ]
    if args.fast_poll > 0:
        rows += [
            (f"SDK sequential, polls {args.fast_poll:g} s", lambda url, _: sdk_sequential(url, args.fast_poll)),
            (f"SDK parallel (managed layout), polls {args.fast_poll:g} s",
             lambda url, _: sdk_parallel(url, args.fast_poll)),
        ]

    results: list[tuple[str, list[float]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        proc, url = serve(work / "local.db", args.speed)
        try:
            for label, run in rows:
                results.append((label, [run(url, work) for _ in range(args.runs)]))
        finally:
            proc.terminate()
            proc.wait(timeout=10)

    critical = max(TRAINER_BOOT_S, DEPLOYMENT_BOOT_S) / args.speed
    fwctl_s = statistics.median(results[0][1])
    print(f"local control plane speed {args.speed:g}x, 127.0.0.1 (emulated boot: trainer "
          f"{TRAINER_BOOT_S / args.speed:.2f}s, deployment {DEPLOYMENT_BOOT_S / args.speed:.2f}s; "
          f"critical path {critical:.2f}s); {args.runs} run(s) per row, median\n")
    print(f"{'bootstrap of the GRPO stack':48} {'wall s':>8} {'x critical':>10} {'x fwctl':>8}")
    for label, times in results:
        wall = statistics.median(times)
        print(f"{label:48} {wall:8.2f} {wall / critical:10.2f} {wall / fwctl_s:8.2f}")


if __name__ == "__main__":
    main()
