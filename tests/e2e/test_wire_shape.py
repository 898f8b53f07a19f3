"""fwctl against a control plane that answers like Fireworks: only the public REST types' fields.

The local plane does not echo a create's query parameters (``trainingShape``) or the body fields the
public types leave out (``inactivityTimeout``, ``trainerReplicaCount``, deployment ``annotations``).
fwctl compares those with the value it last applied (recorded in state), so a plan right after an
apply is still "No changes", a real edit is still seen, and what it cannot verify it says so.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.e2e.conftest import Fwctl, LocalPlane
from tests.e2e.test_lifecycle import edit

STACK = "grpo-qwen3-8b"
DEPLOYMENT = f"{STACK}-rollout"
NOT_ECHOED_TRAINER = ("trainingShape", "inactivityTimeout", "trainerReplicaCount", "useReservation")


def test_apply_then_plan_is_no_changes_although_the_platform_does_not_echo(
    fwctl: Fwctl, local_plane: LocalPlane, workdir: Path
) -> None:
    fwctl.ok("apply", "-f", "grpo", "--auto-approve")
    # the platform's answers: no create query parameter, no field the public types leave out
    trainers = local_plane.trainers()
    assert len(trainers) == 2
    for job in trainers:
        assert not [k for k in NOT_ECHOED_TRAINER if k in job], job
        assert not {"acceleratorType", "acceleratorCount"} & set(job.get("trainingConfig", {})), job
        assert job["status"]["code"] == "OK"
    dep = local_plane.deployment(DEPLOYMENT)
    assert dep is not None and "annotations" not in dep and "forTraining" not in dep

    # ... and yet the next plan is empty: nothing is replaced, nothing updated
    result = fwctl("plan", "-f", "grpo", "--detailed-exitcode")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No changes" in result.stdout
    assert "not verified" not in result.stdout  # fwctl applied every field itself
    drift = fwctl("plan", "-f", "grpo", "--refresh-only", "--detailed-exitcode")
    assert drift.returncode == 0, drift.stdout + drift.stderr

    # an edit of a field the platform does not return is still a change, against the last-applied value
    grpo = workdir / "grpo"
    edit(grpo / "10-trainers.yaml", "inactivityTimeout: 60m", "inactivityTimeout: 90m")
    plan = fwctl("plan", "-f", "grpo", "--detailed-exitcode")
    assert plan.returncode == 2, plan.stdout + plan.stderr
    assert re.search(r"inactivityTimeout: 3600 -> 5400\s+# forces replacement", plan.stdout), plan.stdout
    edit(grpo / "10-trainers.yaml", "inactivityTimeout: 90m", "inactivityTimeout: 60m")
    edit(grpo / "20-serving.yaml", "annotations: {}", "annotations: {team: rl}")
    plan = fwctl("plan", "-f", "grpo", "--detailed-exitcode")
    assert plan.returncode == 2, plan.stdout + plan.stderr
    assert "Plan: 0 to create, 1 to update, 0 to replace" in plan.stdout, plan.stdout
    assert "Deployment/rollout will be updated in place" in plan.stdout
    fwctl.ok("apply", "-f", "grpo", "--auto-approve")
    assert fwctl("plan", "-f", "grpo", "--detailed-exitcode").returncode == 0


def test_a_job_fwctl_did_not_create_is_adopted_with_what_cannot_be_verified_named(
    fwctl: Fwctl, local_plane: LocalPlane, workdir: Path
) -> None:
    # a trainer launched by hand (as the SDK does), then declared with spec.jobId
    job = "hand-made-policy"
    trainers = f"/v1/accounts/{local_plane.account}/rlorTrainerJobs"
    local_plane.client.post(trainers, params={
        "trainingShape": "accounts/fireworks/trainingShapes/qwen3-8b-128k-h200", "rlorTrainerJobId": job,
    }, json={"serviceMode": True, "keepAlive": False, "dataset": "", "displayName": "grpo policy",
             "inactivityTimeout": "3600s", "trainerReplicaCount": 1,
             "trainingConfig": {"baseModel": "accounts/fireworks/models/qwen3-8b", "loraRank": 0,
                                "learningRate": 1e-5, "region": "US_VIRGINIA_1"}}).raise_for_status()
    grpo = workdir / "grpo"
    edit(grpo / "10-trainers.yaml", "  loraRank: 0 ", f"  jobId: {job}\n  loraRank: 0 ")
    plan = fwctl.ok("plan", "-f", "grpo").stdout
    assert "Trainer/policy will be reattached" in plan, plan
    assert "not verified" in plan and "trainingShape" in plan and "inactivityTimeout" in plan, plan
    assert f"adopting existing trainer job {job}" in plan


def test_orphans_and_import_recognise_fwctl_deployments_without_annotations(
    fwctl: Fwctl, local_plane: LocalPlane, workdir: Path
) -> None:
    fwctl.ok("apply", "-f", "grpo", "--auto-approve")
    dep = local_plane.deployment(DEPLOYMENT)
    assert dep is not None and "annotations" not in dep
    assert dep["displayName"] == f"fwctl:{STACK}/rollout"  # the mark the platform does return
    (workdir / ".fwctl" / "state.json").unlink()  # state lost: what was just created is leaked spend
    listed = json.loads(fwctl.ok("orphans", "-f", "grpo", "--grace", "0s", "--json").stdout)
    assert sorted(o["kind"] for o in listed) == ["deployment", "trainer", "trainer"], listed
    assert DEPLOYMENT in [o["remote_id"] for o in listed]
    # another stack may not import it: the display name says whose it is
    other = workdir / "other"
    other.mkdir()
    for f in (workdir / "grpo").iterdir():
        (other / f.name).write_text(f.read_text().replace(f"name: {STACK}", "name: other-stack"))
    foreign = fwctl("import", "-f", "other", "--state", str(workdir / "other.json"), "Deployment/rollout",
                    DEPLOYMENT)
    assert foreign.returncode == 1 and f"managed by stack '{STACK}'" in foreign.stderr, foreign.stderr
