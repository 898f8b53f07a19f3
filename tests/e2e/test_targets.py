"""--target and --replace end to end, against `fwctl local serve` (checked through its REST API)."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.conftest import Fwctl, LocalPlane
from tests.e2e.test_lifecycle import DEPLOYMENT, outputs

WARNING = "Warning: resource targeting is in effect"


def test_an_unknown_target_is_an_error_with_a_suggestion(fwctl: Fwctl, local_plane: LocalPlane) -> None:
    result = fwctl("plan", "-f", "grpo", "--target", "Deployment/rollot")
    assert result.returncode == 1
    assert "--target Deployment/rollot: no such resource" in result.stderr
    assert "did you mean Deployment/rollout?" in result.stderr
    assert "Traceback" not in result.stderr
    result = fwctl("apply", "-f", "grpo", "--auto-approve", "--replace", "Trainer/polcy")
    assert result.returncode == 1 and "did you mean Trainer/policy?" in result.stderr, result.stderr
    assert local_plane.trainers() == [] and local_plane.deployments() == []


def test_targeted_apply_destroy_and_replace(fwctl: Fwctl, local_plane: LocalPlane, workdir: Path) -> None:
    # A deployment targeted in a fresh stack: created, warned as partial, not attached to a trainer that
    # this plan does not create.
    plan = fwctl.ok("plan", "-f", "grpo", "--target", "Deployment/rollout").stdout
    assert "Deployment/rollout will be created" in plan and "Trainer/policy" not in plan
    assert WARNING in plan and "may not show every change" in plan
    result = fwctl.ok("apply", "-f", "grpo", "--auto-approve", "--target", "Deployment/rollout")
    assert WARNING in result.stdout
    dep = local_plane.deployment(DEPLOYMENT)
    assert dep is not None and dep["state"] == "READY"
    assert not dep.get("hotLoadTrainerJob"), dep
    assert local_plane.trainers() == []

    # The rest, untargeted: no warning; the same deployment is attached to the new policy.
    result = fwctl.ok("apply", "-f", "grpo", "--auto-approve")
    assert WARNING not in result.stdout
    policy = outputs(fwctl)["Trainer/policy"]["job_id"]
    dep = local_plane.deployment(DEPLOYMENT)
    assert dep is not None and dep["hotLoadTrainerJob"].endswith(f"/{policy}")

    # --replace: a new job without editing the manifests, shown with that reason; the same deployment
    # is re-pointed at it.
    plan = fwctl.ok("plan", "-f", "grpo", "--replace", "Trainer/policy").stdout
    assert "Trainer/policy must be replaced" in plan and "forced by --replace" in plan
    fwctl.ok("apply", "-f", "grpo", "--auto-approve", "--replace", "Trainer/policy")
    replaced = outputs(fwctl)["Trainer/policy"]["job_id"]
    assert replaced != policy
    old = local_plane.trainer(policy)
    assert old is None or old["state"] in ("JOB_STATE_DELETED", "JOB_STATE_DELETING")
    dep = local_plane.deployment(DEPLOYMENT)
    assert dep is not None and dep["hotLoadTrainerJob"].endswith(f"/{replaced}") and dep["state"] == "READY"
    assert fwctl("plan", "-f", "grpo", "--detailed-exitcode").returncode == 0

    # destroy --target: the policy and what depends on it (the reference, the binding); the deployment
    # stays, detached.
    reference = outputs(fwctl)["ReferenceTrainer/reference"]["job_id"]
    result = fwctl.ok("destroy", "-f", "grpo", "--auto-approve", "--target", "Trainer/policy")
    assert WARNING in result.stdout
    for job_id in (replaced, reference):
        job = local_plane.trainer(job_id)
        assert job is None or job["state"] in ("JOB_STATE_DELETED", "JOB_STATE_DELETING"), job
    dep = local_plane.deployment(DEPLOYMENT)
    assert dep is not None and dep["state"] == "READY" and dep["maxReplicaCount"] == 1
    assert not dep.get("hotLoadTrainerJob"), dep
    assert fwctl.ok("state", "list").stdout.split() == ["Deployment/rollout"]
