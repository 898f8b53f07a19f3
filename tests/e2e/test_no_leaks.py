"""Nothing leaks: every remote resource fwctl is responsible for stays in state until it is gone.

Against `fwctl local serve`: a replaced trainer whose DELETE fails (or whose apply is killed while the
DELETE is retried) stays on record and is deleted by the next apply; a create whose job was deleted
before the apply recorded it is made again under the next generation's id, instead of failing forever.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from tests.e2e.conftest import Fwctl, LocalPlane
from tests.e2e.test_lifecycle import edit, outputs

FAULTS = "/_local/v1/faults"


def running_policy_jobs(plane: LocalPlane) -> list[str]:
    return [t["name"].split("/")[-1] for t in plane.trainers()
            if t["state"] == "JOB_STATE_RUNNING" and "-policy-" in t["name"]]


def gone(plane: LocalPlane, job_id: str) -> bool:
    job = plane.trainer(job_id)
    return job is None or job["state"] in ("JOB_STATE_DELETED", "JOB_STATE_DELETING")


def start(fwctl: Fwctl, *args: str) -> subprocess.Popen[str]:
    """The fwctl executable as Fwctl runs it, but in the background with unbuffered output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FIREWORKS_", "FWCTL_"))}
    env.update(FWCTL_ENDPOINT=fwctl.endpoint, NO_COLOR="1", PYTHONUNBUFFERED="1", **fwctl.env)
    exe = shutil.which("fwctl", path=str(Path(sys.executable).parent)) or "fwctl"
    return subprocess.Popen([exe, *args], cwd=fwctl.cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def kill_after(proc: subprocess.Popen[str], marker: str) -> str:
    """SIGKILL ``proc`` once a line of its output contains ``marker``; its output up to then."""
    seen: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        seen.append(line)
        if marker in line:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=60)
    out = "".join(seen)
    assert marker in out, out
    return out


def test_a_replaced_trainer_whose_delete_fails_stays_in_state_until_the_next_apply_deletes_it(
        fwctl: Fwctl, local_plane: LocalPlane, workdir: Path) -> None:
    fwctl.ok("apply", "-f", "grpo", "--auto-approve")
    old = outputs(fwctl)["Trainer/policy"]["job_id"]
    reference = outputs(fwctl)["ReferenceTrainer/reference"]["job_id"]
    fwctl.ok("local", "fault", "delete-error", "--endpoint", local_plane.url, "--trainer", old, "--status", "400")

    edit(workdir / "grpo" / "10-trainers.yaml", "learningRate: 1.0e-5", "learningRate: 2.0e-5")
    failed = fwctl("apply", "-f", "grpo", "--auto-approve")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert f"deleting {old} failed" in failed.stdout + failed.stderr, failed.stdout + failed.stderr
    deposed = f"Trainer/policy#deposed-{old}"
    assert deposed in fwctl.ok("state", "list").stdout, "the replaced job is on record while it runs"
    assert running_policy_jobs(local_plane) == [old]

    plan = fwctl("plan", "-f", "grpo", "--detailed-exitcode")
    assert plan.returncode == 2 and f"finishing the removal of replaced trainer job {old}" in plan.stdout, plan.stdout
    # still failing: the change fails again, and the record stays
    assert fwctl("apply", "-f", "grpo", "--auto-approve").returncode == 1
    assert deposed in fwctl.ok("state", "list").stdout

    local_plane.admin("DELETE", FAULTS)
    fwctl.ok("apply", "-f", "grpo", "--auto-approve")
    new = outputs(fwctl)["Trainer/policy"]["job_id"]
    assert new != old and gone(local_plane, old) and running_policy_jobs(local_plane) == [new]
    assert local_plane.trainer(reference)["state"] == "JOB_STATE_RUNNING"  # type: ignore[index]
    assert deposed not in fwctl.ok("state", "list").stdout
    dep = local_plane.deployment(f"{outputs(fwctl)['Deployment/rollout']['deployment_id']}")
    assert dep is not None and dep["hotLoadTrainerJob"].endswith(f"/{new}")
    assert fwctl("plan", "-f", "grpo", "--detailed-exitcode").returncode == 0


def test_an_apply_killed_while_a_replaced_trainers_delete_is_retried_leaves_it_on_record(
        fwctl: Fwctl, local_plane: LocalPlane, workdir: Path) -> None:
    fwctl.ok("apply", "-f", "grpo", "--auto-approve")
    old = outputs(fwctl)["Trainer/policy"]["job_id"]
    local_plane.admin("POST", FAULTS, {"kind": "delete-error", "trainer": old, "status": 503})

    edit(workdir / "grpo" / "10-trainers.yaml", "learningRate: 1.0e-5", "learningRate: 2.0e-5")
    kill_after(start(fwctl, "apply", "-f", "grpo", "--auto-approve"), f"deleting: {old} before creating")
    local_plane.admin("DELETE", FAULTS)
    assert running_policy_jobs(local_plane) == [old]

    plan = fwctl.ok("plan", "-f", "grpo").stdout
    assert f"finishing the removal of replaced trainer job {old}" in plan, plan
    fwctl.ok("apply", "-f", "grpo", "--auto-approve")
    new = outputs(fwctl)["Trainer/policy"]["job_id"]
    assert gone(local_plane, old) and running_policy_jobs(local_plane) == [new]
    assert f"#deposed-{old}" not in fwctl.ok("state", "list").stdout
    assert fwctl("plan", "-f", "grpo", "--detailed-exitcode").returncode == 0


def test_a_pending_create_whose_job_was_deleted_is_created_again_under_a_new_id(
        fwctl: Fwctl, local_plane: LocalPlane, workdir: Path) -> None:
    # New trainers stay PENDING (no capacity): the apply is killed after the create, before it is recorded.
    local_plane.admin("POST", FAULTS, {"kind": "capacity", "pendingSeconds": 36000})
    out = kill_after(start(fwctl, "apply", "-f", "grpo", "--auto-approve"), "Trainer/policy: create: created: ")
    first = out.split("Trainer/policy: create: created: ")[1].split()[0]
    assert local_plane.trainer(first) is not None
    local_plane.admin("DELETE", FAULTS)
    local_plane.client.delete(f"/v1/accounts/{local_plane.account}/rlorTrainerJobs/{first}").raise_for_status()

    plan = fwctl.ok("plan", "-f", "grpo").stdout
    assert f"trainer job {first}" in plan and "cannot be reused" in plan, plan
    fwctl.ok("apply", "-f", "grpo", "--auto-approve")
    policy = outputs(fwctl)["Trainer/policy"]["job_id"]
    assert policy != first and running_policy_jobs(local_plane) == [policy]
    assert fwctl("plan", "-f", "grpo", "--detailed-exitcode").returncode == 0
