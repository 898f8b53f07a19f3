"""The GRPO example walked through its life, against `fwctl local serve` over HTTP.

Each step checks the platform through its REST API, not only fwctl's word.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from tests.e2e.conftest import Fwctl, LocalPlane

STACK = "grpo-qwen3-8b"
DEPLOYMENT = f"{STACK}-rollout"


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new))


def outputs(fwctl: Fwctl) -> dict:
    return json.loads(fwctl.ok("output", "--json").stdout)


def wait_for(predicate, what: str, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_grpo_lifecycle(fwctl: Fwctl, local_plane: LocalPlane, workdir: Path) -> None:
    grpo = workdir / "grpo"

    # plan: changes pending -> exit 2 with --detailed-exitcode; nothing created yet
    result = fwctl("plan", "-f", "grpo", "--detailed-exitcode")
    assert result.returncode == 2, result.stderr
    assert "Plan: 4 to create, 0 to update, 0 to replace, 0 to delete, 0 to resume." in result.stdout
    assert local_plane.trainers() == [] and local_plane.deployments() == []

    # apply: two trainers running, one deployment READY attached to the policy
    fwctl.ok("apply", "-f", "grpo", "--auto-approve")
    out = outputs(fwctl)
    policy_job = out["Trainer/policy"]["job_id"]
    reference_job = out["ReferenceTrainer/reference"]["job_id"]
    trainers = {t["name"].split("/")[-1]: t for t in local_plane.trainers()}
    assert set(trainers) == {policy_job, reference_job}
    assert all(t["state"] == "JOB_STATE_RUNNING" for t in trainers.values())
    assert trainers[reference_job].get("forwardOnly") is True
    dep = local_plane.deployment(DEPLOYMENT)
    assert dep is not None and dep["state"] == "READY"
    assert dep["hotLoadTrainerJob"] == f"accounts/{local_plane.account}/rlorTrainerJobs/{policy_job}"
    assert out["Deployment/rollout"]["inference_model"] == f"accounts/{local_plane.account}/deployments/{DEPLOYMENT}"

    # a second plan is empty
    assert fwctl("plan", "-f", "grpo", "--detailed-exitcode").returncode == 0

    # replicas 1 -> 2: updated in place, same deployment
    created = dep["createTime"]
    edit(grpo / "20-serving.yaml", "replicas: {min: 1, max: 1}", "replicas: {min: 1, max: 2}")
    result = fwctl.ok("apply", "-f", "grpo", "--auto-approve")
    assert "1 to update" in result.stdout and "replicas.max: 1 -> 2" in result.stdout
    dep = local_plane.deployment(DEPLOYMENT)
    assert dep is not None and dep["maxReplicaCount"] == 2 and dep["createTime"] == created

    # learningRate changed: the policy is replaced, the binding reattached, the deployment kept
    edit(grpo / "10-trainers.yaml", "learningRate: 1.0e-5", "learningRate: 2.0e-5")
    plan = fwctl.ok("plan", "-f", "grpo").stdout
    assert re.search(r"learningRate: 1e-05 -> 2e-05\s+# forces replacement", plan)
    assert "SyncBinding/policy-to-rollout will be reattached" in plan
    assert "ReferenceTrainer/reference" not in plan  # a frozen reference does not follow the learning rate
    fwctl.ok("apply", "-f", "grpo", "--auto-approve")
    new_policy = outputs(fwctl)["Trainer/policy"]["job_id"]
    assert new_policy != policy_job
    old = local_plane.trainer(policy_job)
    assert old is None or old["state"] in ("JOB_STATE_DELETED", "JOB_STATE_DELETING")
    dep = local_plane.deployment(DEPLOYMENT)
    assert dep is not None and dep["createTime"] == created, "the deployment must not be recreated"
    assert dep["hotLoadTrainerJob"].endswith(f"/{new_policy}") and dep["state"] == "READY"
    assert fwctl("plan", "-f", "grpo", "--detailed-exitcode").returncode == 0

    # the deployment deleted out of band: the next plan creates it again
    local_plane.client.delete(f"/v1/accounts/{local_plane.account}/deployments/{DEPLOYMENT}",
                              params={"ignoreChecks": "true", "hard": "true"}).raise_for_status()
    wait_for(lambda: local_plane.deployment(DEPLOYMENT) is None
             or local_plane.deployment(DEPLOYMENT)["state"] == "DELETED", "the deployment to go")
    plan = fwctl.ok("plan", "-f", "grpo").stdout
    assert "Deployment/rollout will be created" in plan and "deleted out of band" in plan
    fwctl.ok("apply", "-f", "grpo", "--auto-approve")
    dep = local_plane.deployment(DEPLOYMENT)
    assert dep is not None and dep["state"] == "READY" and dep["hotLoadTrainerJob"].endswith(f"/{new_policy}")

    # the policy preempted: resumed (same job), the deployment re-pointed at it
    local_plane.admin("POST", "/_local/v1/faults", {"kind": "preempt", "trainer": new_policy})
    wait_for(lambda: local_plane.trainer(new_policy)["state"] == "JOB_STATE_FAILED", "the preemption")
    plan = fwctl.ok("plan", "-f", "grpo").stdout
    assert "Trainer/policy will be resumed" in plan and "1 to resume" in plan
    fwctl.ok("apply", "-f", "grpo", "--auto-approve")
    assert local_plane.trainer(new_policy)["state"] == "JOB_STATE_RUNNING"
    assert outputs(fwctl)["Trainer/policy"]["job_id"] == new_policy
    assert fwctl("plan", "-f", "grpo", "--detailed-exitcode").returncode == 0

    # the deployment (and its binding) removed from the manifests: scaled to zero, not deleted
    serving = (grpo / "20-serving.yaml").read_text()
    (grpo / "20-serving.yaml").unlink()
    plan = fwctl.ok("plan", "-f", "grpo").stdout
    assert "Deployment/rollout will be scaled to zero" in plan
    fwctl.ok("apply", "-f", "grpo", "--auto-approve")
    dep = local_plane.deployment(DEPLOYMENT)
    assert dep is not None and dep["maxReplicaCount"] == 0 and dep["minReplicaCount"] == 0

    # declared again: scaled up
    (grpo / "20-serving.yaml").write_text(serving)
    plan = fwctl.ok("plan", "-f", "grpo").stdout
    assert "Deployment/rollout will be scaled up" in plan
    fwctl.ok("apply", "-f", "grpo", "--auto-approve")
    dep = local_plane.deployment(DEPLOYMENT)
    assert dep is not None and dep["maxReplicaCount"] == 2 and dep["state"] == "READY"
    assert dep["hotLoadTrainerJob"].endswith(f"/{new_policy}")
    assert fwctl("plan", "-f", "grpo", "--detailed-exitcode").returncode == 0

    # destroy: trainers gone, deployment parked at zero replicas, state empty
    fwctl.ok("destroy", "-f", "grpo", "--auto-approve")
    assert local_plane.trainers() == []
    dep = local_plane.deployment(DEPLOYMENT)
    assert dep is not None and dep["maxReplicaCount"] == 0
    assert fwctl.ok("state", "list").stdout.strip() == ""


def recorded_lifecycle(workdir: Path, address: str) -> dict:
    state = json.loads((workdir / ".fwctl" / "state.json").read_text())
    return dict(state["resources"][address]["lifecycle"])


def test_lifecycle_comes_from_the_manifests(fwctl: Fwctl, local_plane: LocalPlane, workdir: Path) -> None:
    trainers = workdir / "grpo" / "10-trainers.yaml"
    fwctl.ok("apply", "-f", "grpo", "--auto-approve")
    out = outputs(fwctl)
    policy, reference = out["Trainer/policy"]["job_id"], out["ReferenceTrainer/reference"]["job_id"]

    # preventDestroy added: a state-only update in the plan, recorded by apply, nothing remote touched
    edit(trainers, "preventDestroy: false", "preventDestroy: true")
    result = fwctl("plan", "-f", "grpo", "--detailed-exitcode")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Trainer/policy will be updated in place" in result.stdout
    assert "lifecycle.preventDestroy: false -> true" in result.stdout
    assert "nothing changes on the platform" in result.stdout
    def untouched(job: dict | None) -> dict:  # the usage meter (acceleratorSeconds) runs on its own
        return {k: v for k, v in (job or {}).items() if k != "acceleratorSeconds"}

    job_before = untouched(local_plane.trainer(policy))
    fwctl.ok("apply", "-f", "grpo", "--auto-approve")
    assert recorded_lifecycle(workdir, "Trainer/policy")["preventDestroy"] is True
    assert untouched(local_plane.trainer(policy)) == job_before, "a lifecycle change makes no remote call"
    assert fwctl("plan", "-f", "grpo", "--detailed-exitcode").returncode == 0

    # destroy is refused, located at the field, naming the way out; nothing is touched
    result = fwctl("destroy", "-f", "grpo", "--auto-approve")
    assert result.returncode == 1
    assert re.search(r"10-trainers\.yaml:\d+:\d+: Trainer/policy: spec\.lifecycle\.preventDestroy: is true",
                     result.stderr), result.stderr
    assert "set preventDestroy: false" in result.stderr
    assert local_plane.trainer(policy)["state"] == "JOB_STATE_RUNNING"

    # a replace is refused too, naming the field that forces it
    edit(trainers, "learningRate: 1.0e-5", "learningRate: 2.0e-5")
    result = fwctl("plan", "-f", "grpo")
    assert result.returncode == 1 and "would replace it (learningRate forces replacement)" in result.stderr, \
        result.stderr
    edit(trainers, "learningRate: 2.0e-5", "learningRate: 1.0e-5")

    # a destroy of something else is not refused by the policy's preventDestroy
    result = fwctl("plan", "-f", "grpo", "--destroy", "--target", "Deployment/rollout")
    assert result.returncode == 0, result.stderr
    assert "Deployment/rollout will be scaled to zero" in result.stdout and "Trainer/policy" not in result.stdout

    # set back to false (and onDestroy: retain) in the manifests: destroy follows them right away
    edit(trainers, "onDestroy: delete, preventDestroy: true", "onDestroy: retain, preventDestroy: false")
    fwctl.ok("destroy", "-f", "grpo", "--auto-approve")
    assert local_plane.trainer(policy)["state"] == "JOB_STATE_RUNNING", "onDestroy: retain keeps the job"
    gone = local_plane.trainer(reference)
    assert gone is None or gone["state"] in ("JOB_STATE_DELETED", "JOB_STATE_DELETING")
    assert fwctl.ok("state", "list").stdout.strip() == ""


def test_removing_a_pin_is_planned_and_recorded(fwctl: Fwctl, local_plane: LocalPlane, workdir: Path) -> None:
    binding = workdir / "grpo" / "20-serving.yaml"
    fwctl.ok("apply", "-f", "grpo", "--auto-approve")
    policy = outputs(fwctl)["Trainer/policy"]["job_id"]
    local_plane.admin("POST", f"/_local/v1/accounts/{local_plane.account}/rlorTrainerJobs/{policy}/snapshots",
                      {"name": "step-0100"})
    edit(binding, "  scope: perTrainer", "  scope: perTrainer\n  snapshot: step-0100")
    fwctl.ok("apply", "-f", "grpo", "--auto-approve")
    assert outputs(fwctl)["Deployment/rollout"]["snapshot"] == "step-0100"
    dep_before = local_plane.deployment(DEPLOYMENT)

    edit(binding, "  scope: perTrainer\n  snapshot: step-0100", "  scope: perTrainer")
    result = fwctl("plan", "-f", "grpo", "--detailed-exitcode")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "SyncBinding/policy-to-rollout will be updated in place" in result.stdout
    assert 'snapshot: "step-0100" -> null' in result.stdout
    assert "keeps serving step-0100" in result.stdout and "stops recording the pin" in result.stdout
    fwctl.ok("apply", "-f", "grpo", "--auto-approve")
    assert outputs(fwctl)["Deployment/rollout"]["snapshot"] is None
    assert outputs(fwctl)["SyncBinding/policy-to-rollout"]["snapshot"] is None
    assert local_plane.deployment(DEPLOYMENT) == dep_before, "unpinning touches nothing on the platform"
    assert fwctl("plan", "-f", "grpo", "--detailed-exitcode").returncode == 0
