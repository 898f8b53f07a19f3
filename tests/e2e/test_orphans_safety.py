"""`fwctl orphans` never deletes what it should not, through the `fwctl` executable against
`fwctl local serve`: not what an apply is creating (it holds the state lock, as apply does), not
what was created within the grace period, not another stack's jobs, not what `onDestroy: retain`
kept on purpose."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.e2e.conftest import Fwctl, LocalPlane
from tests.e2e.test_lifecycle import edit, wait_for
from tests.e2e.test_status import spawn

STACK = "grpo-qwen3-8b"
DEPLOYMENT = f"{STACK}-rollout"


def live_trainers(plane: LocalPlane) -> dict[str, str]:
    return {t["name"].split("/")[-1]: t["state"] for t in plane.trainers()}


def test_orphans_delete_beside_an_apply_waits_for_its_lock_and_spares_what_it_creates(
        fwctl: Fwctl, local_plane: LocalPlane, workdir: Path) -> None:
    # trainers wait for capacity: the apply holds the lock, its jobs created, not yet RUNNING
    local_plane.admin("POST", "/_local/v1/faults", {"kind": "capacity", "pendingSeconds": 250})
    apply = spawn(fwctl, "apply", "-f", "grpo", "--auto-approve")
    try:
        wait_for(lambda: len(local_plane.trainers()) == 2, "both trainer jobs created", timeout=120)
        in_flight = live_trainers(local_plane)

        refused = fwctl("orphans", "-f", "grpo", "--delete", "--auto-approve", "--grace", "0s")
        assert refused.returncode == 1, refused.stdout + refused.stderr
        lines = refused.stderr.strip().splitlines()
        assert len(lines) == 1 and "locked" in lines[0] and "apply" in lines[0], refused.stderr
        assert "Deleted" not in refused.stdout
        assert set(live_trainers(local_plane)) == set(in_flight)
        assert "DELETED" not in " ".join(live_trainers(local_plane).values())

        # with a lock timeout it waits for the apply, then finds nothing to delete
        waited = fwctl("orphans", "-f", "grpo", "--delete", "--auto-approve", "--grace", "0s",
                       "--lock-timeout", "5m")
        assert waited.returncode == 0, waited.stdout + waited.stderr
        assert "No orphans" in waited.stdout and "Deleted" not in waited.stdout, waited.stdout
    finally:
        local_plane.admin("DELETE", "/_local/v1/faults")
        stdout, stderr = apply.communicate(timeout=300)
    assert apply.returncode == 0, stdout + stderr
    assert set(live_trainers(local_plane).values()) == {"JOB_STATE_RUNNING"}
    assert set(live_trainers(local_plane)) == set(in_flight)
    assert (local_plane.deployment(DEPLOYMENT) or {}).get("state") == "READY"
    assert fwctl("plan", "-f", "grpo", "--detailed-exitcode").returncode == 0  # converged, nothing lost


def test_a_fresh_orphan_is_not_counted_within_the_grace_period(fwctl: Fwctl, local_plane: LocalPlane,
                                                               workdir: Path) -> None:
    fwctl.ok("apply", "-f", "grpo", "--auto-approve")
    jobs = set(live_trainers(local_plane))
    (workdir / ".fwctl" / "state.json").unlink()  # state lost: what was just created is orphaned

    listed = fwctl("orphans", "-f", "grpo", "--detailed-exitcode")
    assert listed.returncode == 0, listed.stdout + listed.stderr  # nothing counted yet
    assert "No orphans" in listed.stdout and "--grace 0s" in listed.stdout, listed.stdout
    assert all(job in listed.stdout for job in jobs), listed.stdout  # named as not counted
    kept = fwctl.ok("orphans", "-f", "grpo", "--delete", "--auto-approve")
    assert "Deleted" not in kept.stdout, kept.stdout
    assert set(live_trainers(local_plane)) == jobs
    assert (local_plane.deployment(DEPLOYMENT) or {}).get("state") == "READY"

    bad = fwctl("orphans", "-f", "grpo", "--grace", "ten minutes")
    assert bad.returncode != 0 and "--grace" in bad.stderr and "Traceback" not in bad.stderr, bad.stderr

    counted = fwctl("orphans", "-f", "grpo", "--grace", "0s", "--detailed-exitcode")
    assert counted.returncode == 2, counted.stdout + counted.stderr
    fwctl.ok("orphans", "-f", "grpo", "--grace", "0s", "--delete", "--auto-approve")
    assert local_plane.trainers() == []


def test_another_stacks_trainers_are_never_this_stacks_orphans(fwctl: Fwctl, local_plane: LocalPlane,
                                                               workdir: Path) -> None:
    # stack "grpo" (its own state) beside stack "grpo-qwen3-8b": the latter's job ids start "grpo-"
    fwctl.ok("apply", "-f", "grpo", "--auto-approve")
    jobs = set(live_trainers(local_plane))
    other = workdir / "other"
    shutil.copytree(workdir / "grpo", other)
    edit(other / "00-stack.yaml", f"name: {STACK}", "name: grpo")
    state = ["-f", "other", "--state", str(workdir / "other.json"), "--grace", "0s"]
    listed = json.loads(fwctl.ok("orphans", *state, "--json").stdout)
    assert listed == []
    fwctl.ok("orphans", *state, "--delete", "--auto-approve")
    assert set(live_trainers(local_plane)) == jobs
    assert set(live_trainers(local_plane).values()) == {"JOB_STATE_RUNNING"}


def test_a_retained_deployment_is_marked_and_never_an_orphan(fwctl: Fwctl, local_plane: LocalPlane,
                                                             workdir: Path) -> None:
    edit(workdir / "grpo" / "20-serving.yaml", "onDestroy: scaleToZero", "onDestroy: retain")
    fwctl.ok("apply", "-f", "grpo", "--auto-approve")
    plan = fwctl.ok("plan", "-f", "grpo", "--destroy").stdout
    assert "fwctl.dev/retained" in plan, plan  # the plan says what forgetting it does
    fwctl.ok("destroy", "-f", "grpo", "--auto-approve")
    dep = local_plane.deployment(DEPLOYMENT)
    assert dep is not None and dep["state"] == "READY" and dep["maxReplicaCount"] == 1  # kept, serving
    assert dep["displayName"] == f"fwctl:{STACK}/rollout (retained)"  # re-marked (annotations are not returned)

    listed = fwctl("orphans", "-f", "grpo", "--grace", "0s", "--detailed-exitcode")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "No orphans" in listed.stdout and f"Retained, not counted: {DEPLOYMENT}" in listed.stdout, listed.stdout
    assert json.loads(fwctl.ok("orphans", "-f", "grpo", "--grace", "0s", "--json").stdout) == []
    fwctl.ok("orphans", "-f", "grpo", "--grace", "0s", "--delete", "--auto-approve")
    assert (local_plane.deployment(DEPLOYMENT) or {}).get("state") == "READY"

    # declared again: adopted as it is, under the state again
    fwctl.ok("apply", "-f", "grpo", "--auto-approve")
    assert (local_plane.deployment(DEPLOYMENT) or {}).get("createTime") == dep["createTime"]
    assert "No orphans" in fwctl.ok("orphans", "-f", "grpo", "--grace", "0s").stdout


def test_a_retained_trainer_and_a_parked_deployment_are_never_orphans(fwctl: Fwctl, local_plane: LocalPlane,
                                                                      workdir: Path) -> None:
    # a trainer job cannot be re-marked on the platform: the state keeps a retained record of it
    edit(workdir / "grpo" / "10-trainers.yaml", "onDestroy: delete", "onDestroy: retain")
    fwctl.ok("apply", "-f", "grpo", "--auto-approve")
    policy = json.loads((workdir / ".fwctl" / "state.json").read_text())["resources"]["Trainer/policy"]["remote_id"]
    plan = fwctl.ok("plan", "-f", "grpo", "--destroy").stdout
    assert f"trainer job {policy} running, recorded in the state as fwctl.dev/retained" in plan, plan
    fwctl.ok("destroy", "-f", "grpo", "--auto-approve")
    assert live_trainers(local_plane) == {policy: "JOB_STATE_RUNNING"}  # the reference is deleted, the policy kept
    dep = local_plane.deployment(DEPLOYMENT)
    assert dep is not None and dep["maxReplicaCount"] == 0  # parked by onDestroy: scaleToZero

    listed = fwctl("orphans", "-f", "grpo", "--grace", "0s", "--detailed-exitcode")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "No orphans" in listed.stdout and "Retained, not counted:" in listed.stdout, listed.stdout
    assert policy in listed.stdout and DEPLOYMENT in listed.stdout, listed.stdout
    assert json.loads(fwctl.ok("orphans", "-f", "grpo", "--grace", "0s", "--json").stdout) == []
    deleted = fwctl.ok("orphans", "-f", "grpo", "--grace", "0s", "--delete", "--auto-approve")
    assert "Deleted" not in deleted.stdout, deleted.stdout
    assert live_trainers(local_plane) == {policy: "JOB_STATE_RUNNING"}
    assert local_plane.deployment(DEPLOYMENT) is not None


def test_what_state_rm_forgets_is_kept_on_purpose_not_an_orphan(fwctl: Fwctl, local_plane: LocalPlane,
                                                                workdir: Path) -> None:
    fwctl.ok("apply", "-f", "grpo", "--auto-approve")
    jobs = live_trainers(local_plane)
    fwctl.ok("state", "rm", "ReferenceTrainer/reference")
    listed = fwctl("orphans", "-f", "grpo", "--grace", "0s", "--detailed-exitcode")
    assert listed.returncode == 0 and "Retained, not counted:" in listed.stdout, listed.stdout + listed.stderr
    fwctl.ok("orphans", "-f", "grpo", "--grace", "0s", "--delete", "--auto-approve")
    assert live_trainers(local_plane) == jobs  # `state rm` leaves the remote job as it is, and so does orphans
