"""`fwctl status`: live health per resource, against `fwctl local serve`."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.conftest import Fwctl, LocalPlane
from tests.e2e.test_lifecycle import outputs, wait_for


def health(fwctl: Fwctl, expect_exit: int) -> dict[str, dict]:
    result = fwctl("status", "-f", "grpo", "--json")
    assert result.returncode == expect_exit, result.stdout + result.stderr
    return {r["address"]: r for r in json.loads(result.stdout)["resources"]}


def test_status(fwctl: Fwctl, local_plane: LocalPlane, workdir: Path) -> None:
    grpo = workdir / "grpo"

    # nothing applied yet: everything Missing, exit 1
    report = health(fwctl, 1)
    assert {r["health"] for r in report.values()} == {"Missing"}, report

    fwctl.ok("apply", "-f", "grpo", "--auto-approve")
    report = health(fwctl, 0)
    assert {a: r["health"] for a, r in report.items()} == {
        "Trainer/policy": "Healthy", "ReferenceTrainer/reference": "Healthy",
        "Deployment/rollout": "Healthy", "SyncBinding/policy-to-rollout": "Healthy",
    }, report
    assert "healthz ok" in report["Trainer/policy"]["reason"]
    text = fwctl("status", "-f", "grpo")
    assert text.returncode == 0 and "Deployment/rollout" in text.stdout and "Healthy" in text.stdout

    # the policy preempted: Degraded with the platform's reason, exit 1
    policy = outputs(fwctl)["Trainer/policy"]["job_id"]
    local_plane.admin("POST", "/_local/v1/faults", {"kind": "preempt", "trainer": policy})
    wait_for(lambda: local_plane.trainer(policy)["state"] == "JOB_STATE_FAILED", "the preemption")
    report = health(fwctl, 1)
    assert report["Trainer/policy"]["health"] == "Degraded", report
    assert "FAILED" in report["Trainer/policy"]["reason"] and "preempted" in report["Trainer/policy"]["reason"]
    text = fwctl("status", "-f", "grpo")
    assert text.returncode == 1 and "Degraded" in text.stdout

    # resumed by apply: healthy again
    fwctl.ok("apply", "-f", "grpo", "--auto-approve")
    assert health(fwctl, 0)["Trainer/policy"]["health"] == "Healthy"

    # the deployment removed from the manifests: scaled to zero by apply, reported Suspended (not a failure)
    (grpo / "20-serving.yaml").unlink()
    fwctl.ok("apply", "-f", "grpo", "--auto-approve")
    dep = local_plane.deployment("grpo-qwen3-8b-rollout")
    assert dep is not None and dep["maxReplicaCount"] == 0
    report = health(fwctl, 0)
    assert report["Deployment/rollout"]["health"] == "Suspended", report
    assert "scaled to zero" in report["Deployment/rollout"]["reason"]
