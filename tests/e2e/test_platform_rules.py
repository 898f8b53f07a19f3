"""Issue 13 points 3-4 through the fwctl executable: rules the platform enforces, and how fwctl reacts.

- a deployment on a training-pinned shape is created with ``forTraining: true`` (the platform needs it);
- a GPU quota 429 fails the change at once with the platform's message (not ~2 minutes of retries);
- plan-time refusals, located: a context length not divisible by 16, a trainer in two weight-sync scopes.
"""

from __future__ import annotations

import time
from pathlib import Path

from tests.e2e.conftest import Fwctl, LocalPlane

H200 = "nvidia-h200-141gb"


def test_a_trainer_fed_deployment_is_created_for_training(fwctl: Fwctl, local_plane: LocalPlane) -> None:
    # the grpo rollout deployment sits on a deployment shape version the policy's training shape pins:
    # the platform refuses it without forTraining: true, so before this the apply failed
    result = fwctl("apply", "-f", "grpo", "--auto-approve")
    assert result.returncode == 0, result.stdout + result.stderr
    (dep,) = local_plane.deployments()
    record = local_plane.get(f"/_local/v1/accounts/{local_plane.account}/deployments/{dep['name'].split('/')[-1]}")
    assert record["forTraining"] is True
    assert "No changes" in fwctl.ok("plan", "-f", "grpo").stdout


def test_a_deployment_alone_on_a_training_pinned_shape_is_created_for_training(
        fwctl: Fwctl, local_plane: LocalPlane, workdir: Path) -> None:
    # no trainer in the stack reads the training shape that pins rft-qwen3-8b: fwctl asks the platform
    # (training shape versions filtered by snapshot.deployment_shape_version) instead of guessing
    (workdir / "solo.yaml").write_text(
        "apiVersion: fwctl/v1\nkind: Stack\nmetadata: {name: solo}\n---\n"
        "apiVersion: fwctl/v1\nkind: Deployment\nmetadata: {name: serve}\nspec:\n"
        "  baseModel: accounts/fireworks/models/qwen3-8b\n"
        "  deploymentShape: accounts/fireworks/deploymentShapes/rft-qwen3-8b\n"
    )
    result = fwctl("apply", "-f", "solo.yaml", "--auto-approve")
    assert result.returncode == 0, result.stdout + result.stderr
    record = local_plane.get(f"/_local/v1/accounts/{local_plane.account}/deployments/solo-serve")
    assert record["forTraining"] is True
    assert "No changes" in fwctl.ok("plan", "-f", "solo.yaml").stdout


def test_apply_over_the_gpu_quota_fails_fast_naming_the_quota(fwctl: Fwctl, local_plane: LocalPlane,
                                                             workdir: Path) -> None:
    fwctl.ok("plan", "-f", "grpo", "--out", "saved.plan")  # planned while the quota had room
    local_plane.admin("PUT", f"/_local/v1/quotas/{H200}", {"value": 0})
    started = time.monotonic()
    result = fwctl("apply", "saved.plan")
    elapsed = time.monotonic() - started
    assert result.returncode != 0, result.stdout + result.stderr
    out = result.stdout + result.stderr
    assert "Traceback" not in out
    lines = [line for line in out.splitlines() if "Quota exceeded" in line]
    assert lines and all(H200 in line for line in lines), out
    assert "HTTP 429" in lines[0]
    assert elapsed < 30, f"a quota 429 was retried for {elapsed:.0f}s"  # the retry budget is ~120 s
    stats = local_plane.get("/_local/v1/stats")
    assert stats["byStatus"].get("429", 0) <= 2, stats  # asked once per change, not in a retry loop


def test_validate_refuses_a_context_length_not_divisible_by_16(fwctl: Fwctl, workdir: Path) -> None:
    sft = workdir / "sft.yaml"
    sft.write_text(
        "apiVersion: fwctl/v1\nkind: Trainer\nmetadata: {name: sft}\nspec:\n"
        "  baseModel: accounts/fireworks/models/qwen3-8b\n"
        "  accelerator: {type: NVIDIA_H200_141GB, count: 8}\n"
        "  maxContextLength: 32770\n"
    )
    for command in ("validate", "plan"):
        result = fwctl(command, "-f", "sft.yaml")
        assert result.returncode == 1, result.stdout + result.stderr
        assert "sft.yaml:7:3: Trainer/sft: spec.maxContextLength: 32770 must be divisible by 16" in result.stderr
        assert "32768" in result.stderr and "Traceback" not in result.stderr


def test_plan_refuses_a_trainer_in_both_weight_sync_scopes(fwctl: Fwctl, local_plane: LocalPlane,
                                                          workdir: Path) -> None:
    serving = workdir / "grpo" / "20-serving.yaml"
    text = serving.read_text()
    serving.write_text(text + (
        "---\napiVersion: fwctl/v1\nkind: Deployment\nmetadata: {name: keyed}\nspec:\n"
        "  baseModel: accounts/fireworks/models/qwen3-8b\n"
        "  deploymentShape: accounts/fireworks/deploymentShapes/rft-qwen3-8b\n"
        "---\napiVersion: fwctl/v1\nkind: SyncBinding\nmetadata: {name: policy-to-keyed}\n"
        "spec: {trainer: policy, deployment: keyed, scope: perDeployment}\n"
    ))
    result = fwctl("plan", "-f", "grpo")
    assert result.returncode == 1, result.stdout + result.stderr
    err = result.stderr
    assert "20-serving.yaml:" in err and "spec.scope" in err and "hotload flow mismatch" in err
    assert "Trainer/policy is bound perTrainer to Deployment/rollout" in err and "Traceback" not in err
    assert not local_plane.trainers() and not local_plane.deployments()


def test_no_capacity_fails_the_change_at_once_with_the_platforms_message(fwctl: Fwctl,
                                                                        local_plane: LocalPlane) -> None:
    local_plane.admin("POST", "/_local/v1/faults", {"kind": "capacity", "reject": True})
    started = time.monotonic()
    result = fwctl("apply", "-f", "grpo", "--auto-approve")
    elapsed = time.monotonic() - started
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    assert "Traceback" not in out and "Quota exceeded" not in out
    failed = [line for line in out.splitlines() if "no capacity" in line and ": failed:" in line]
    assert failed and all("HTTP 429" in line for line in failed), out
    assert elapsed < 30, f"a no-capacity 429 was retried for {elapsed:.0f}s"
    assert not local_plane.trainers()
    local_plane.admin("DELETE", "/_local/v1/faults")
    fwctl.ok("apply", "-f", "grpo", "--auto-approve")  # capacity is back: the same apply goes through
