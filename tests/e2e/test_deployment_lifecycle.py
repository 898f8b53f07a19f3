"""Deployments' lifecycle as the platform really has it, end to end: `fwctl` against `fwctl local serve`.

- Hot-load deployments that stay CREATING while they serve: apply completes on a successful inference
  probe, and fails clearly, with the probe's answer, when the probe keeps failing.
- `min: 0` deployments: scaled to zero while idle is not drift; one the platform deleted after 7 idle
  days is explained in the plan and created again.
- The SDK's `create_deployment_sampler(model_path=...)` hot-loads through the hot-load API and samples:
  an unpinned binding sees no drift; a pinned one plans the hot load back to its pin.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import EXAMPLES, LOCAL_KEY, Fwctl, LocalPlane, served_plane
from tests.e2e.test_bindings import BINDING, DEPLOYMENT, FULL_POLICY, write_stack
from tests.local.conftest import FastTime

MIN_ZERO = """\
apiVersion: fwctl/v1
kind: Deployment
metadata: {name: serve}
spec:
  baseModel: accounts/fireworks/models/qwen3-8b
  deploymentShape: accounts/fireworks/deploymentShapes/rft-qwen3-8b
  replicas: {min: 0, max: 1}
  hotLoad: {enabled: true, transition: ASYNC}
"""
WEEK_S = 7 * 86400


def with_timeout(manifest: str, seconds: int) -> str:
    return manifest + f"  timeouts: {{create: {seconds}s}}\n"


def served(plane: LocalPlane, dep_id: str) -> str | None:
    dep = plane.deployment(dep_id)
    assert dep is not None
    headers = {"fireworks-deployment": f"accounts/{plane.account}/deployments/{dep_id}",
               "fireworks-model": dep["baseModel"]}
    replicas = plane.client.get("/hot_load/v1/models/hot_load", headers=headers).json()["replicas"]
    return replicas[0]["current_snapshot_identity"] if replicas else None


@pytest.fixture
def plane(tmp_path: Path) -> Iterator[LocalPlane]:
    with served_plane(tmp_path / "local.db", "50") as local:
        yield local


def test_apply_completes_when_a_hot_load_deployment_stays_creating_but_serves(tmp_path: Path, plane: LocalPlane) -> None:
    plane.admin("PUT", "/_local/v1/inference", {"deploymentsStayCreating": True})
    stack = write_stack(tmp_path, "creating", {"10-policy.yaml": FULL_POLICY,
                                                "20-serve.yaml": with_timeout(DEPLOYMENT, 30),
                                                "30-binding.yaml": BINDING.format(scope="perTrainer")})
    fwctl = Fwctl(tmp_path, plane.url)
    applied = fwctl("apply", "-f", str(stack), "--auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "serving requests" in applied.stdout + applied.stderr  # fwctl says why CREATING was enough
    dep = plane.deployment("creating-serve")
    assert dep is not None and dep["state"] == "CREATING" and dep["replicaCount"] == 1
    assert "/rlorTrainerJobs/creating-policy" in dep["hotLoadTrainerJob"]  # attached to the policy job
    # the next plan is clean: a serving CREATING deployment is not drift
    plan = fwctl("plan", "-f", str(stack), "--detailed-exitcode")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    status = fwctl("status", "-f", str(stack))
    assert "CREATING but serving" in status.stdout, status.stdout + status.stderr


def test_apply_fails_clearly_when_the_inference_probe_keeps_failing(tmp_path: Path, plane: LocalPlane) -> None:
    plane.admin("PUT", "/_local/v1/inference", {"deploymentsStayCreating": True, "deployment": "probe-serve",
                                                 "status": 503, "message": "replica crashed: out of memory"})
    stack = write_stack(tmp_path, "probe", {"20-serve.yaml": with_timeout(DEPLOYMENT, 3)})
    failed = Fwctl(tmp_path, plane.url)("apply", "-f", str(stack), "--auto-approve")
    out = failed.stdout + failed.stderr
    assert failed.returncode != 0
    assert "Deployment/serve" in out and "stayed CREATING" in out and "inference probe" in out
    assert "HTTP 503" in out and "replica crashed: out of memory" in out
    assert "Traceback" not in out


def test_a_min_zero_deployment_idle_at_zero_is_not_drift_and_one_deleted_after_a_week_is_recreated(
        tmp_path: Path) -> None:
    speed = WEEK_S / 12  # an idle week passes in 12 s; the 1 h scale-to-zero window in 6 ms
    with served_plane(tmp_path / "local.db", str(speed)) as local:
        stack = write_stack(tmp_path, "idle", {"20-serve.yaml": MIN_ZERO})
        fwctl = Fwctl(tmp_path, local.url)
        created_at = time.monotonic()
        fwctl.ok("apply", "-f", str(stack), "--auto-approve")
        time.sleep(0.1)
        dep = local.deployment("idle-serve")
        assert dep is not None and (dep["state"], dep["replicaCount"]) == ("READY", 0)  # scaled to zero, idle
        plan = fwctl("plan", "-f", str(stack), "--detailed-exitcode")
        assert plan.returncode == 0, plan.stdout + plan.stderr  # at zero replicas while idle: no drift
        status = fwctl("status", "-f", str(stack))
        assert "scaled to zero while idle" in status.stdout, status.stdout + status.stderr

        time.sleep(max(0.0, 13 - (time.monotonic() - created_at)))  # a week without traffic
        assert local.deployment("idle-serve") is None
        plan = fwctl("plan", "-f", str(stack), "--detailed-exitcode")
        assert plan.returncode == 2, plan.stdout + plan.stderr
        assert "after 7 days without traffic" in plan.stdout and "created again" in plan.stdout
        fwctl.ok("apply", "-f", str(stack), "--auto-approve")
        assert local.deployment("idle-serve") is not None


def set_pin(stack: Path, snapshot: str | None) -> None:
    binding = stack / "grpo" / "20-serving.yaml"  # the SyncBinding is its last document
    text = re.sub(r"\n  snapshot: .*", "", binding.read_text())
    if snapshot:
        text = text.rstrip("\n") + f"\n  snapshot: {snapshot}\n"
    binding.write_text(text)


def test_the_sdk_deployment_sampler_hot_loads_and_fwctl_sees_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fireworks.training.sdk import FiretitanServiceClient, deployment

    monkeypatch.setattr(deployment, "time", FastTime)
    monkeypatch.setenv("TINKER_TELEMETRY", "0")
    import shutil

    shutil.copytree(EXAMPLES / "grpo", tmp_path / "grpo")
    with served_plane(tmp_path / "local.db", "200") as local:
        fwctl = Fwctl(tmp_path, local.url)
        fwctl.ok("apply", "-f", "grpo", "--auto-approve")
        outputs: dict[str, Any] = json.loads(fwctl.ok("output", "-f", "grpo", "--json").stdout)
        dep_id = outputs["Deployment/rollout"]["deployment_id"]

        service = FiretitanServiceClient.from_firetitan_config(api_key=LOCAL_KEY, **outputs["sdk"])
        try:
            policy = service.create_training_client()
            first = policy.save_weights_for_sampler("step-1").result().path
            sampler = service.create_deployment_sampler(model_path=first)  # hot-loads, as on the platform
            completions = asyncio.run(sampler.sample_with_prompt_tokens([9707, 11, 1879], max_tokens=4,
                                                                        temperature=0.0, logprobs=True))
            assert completions[0].completion_len == 4 and len(completions[0].inference_logprobs) == 4
            assert served(local, dep_id) == first
            # an unpinned binding: what the training loop hot-loads is not drift
            plan = fwctl("plan", "-f", "grpo", "--detailed-exitcode")
            assert plan.returncode == 0, plan.stdout + plan.stderr

            set_pin(tmp_path, first)  # pin what it serves: still nothing to do
            plan = fwctl("plan", "-f", "grpo", "--detailed-exitcode")
            assert plan.returncode == 0, plan.stdout + plan.stderr
            fwctl.ok("apply", "-f", "grpo", "--auto-approve")

            second = policy.save_weights_for_sampler("step-2").result().path
            service.create_deployment_sampler(model_path=second)
            assert served(local, dep_id) == second
        finally:
            service.close()
        # a pinned binding: the hot load away from the pin is drift, and apply loads the pin back
        plan = fwctl("plan", "-f", "grpo", "--detailed-exitcode")
        assert plan.returncode == 2, plan.stdout + plan.stderr
        assert "hotload" in plan.stdout and second in plan.stdout and first in plan.stdout
        fwctl.ok("apply", "-f", "grpo", "--auto-approve")
        assert served(local, dep_id) == first
        assert fwctl("plan", "-f", "grpo", "--detailed-exitcode").returncode == 0
