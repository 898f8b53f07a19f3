"""The order of a trainer replace, end to end: lifecycle.createBeforeDestroy, or (the default) the old
job first. The apply's progress lines (one per state change in a pipeline) give the order; the platform
gives the outcome."""

from __future__ import annotations

import re
from pathlib import Path

from tests.e2e.conftest import Fwctl, LocalPlane
from tests.e2e.test_lifecycle import DEPLOYMENT, edit, outputs

BINDING = "SyncBinding/policy-to-rollout"


def line_of(output: str, pattern: str) -> int:
    """The index of the first progress line matching ``pattern``."""
    lines = output.splitlines()
    return next(i for i, line in enumerate(lines) if re.search(pattern, line))


def gone(plane: LocalPlane, job_id: str) -> bool:
    job = plane.trainer(job_id)
    return job is None or job["state"] in ("JOB_STATE_DELETED", "JOB_STATE_DELETING")


def test_create_before_destroy_re_points_the_deployment_before_the_old_job_goes(
        fwctl: Fwctl, local_plane: LocalPlane, workdir: Path) -> None:
    trainers = workdir / "grpo" / "10-trainers.yaml"
    edit(trainers, "ignoreChanges: []}", "ignoreChanges: [], createBeforeDestroy: true}")
    fwctl.ok("apply", "-f", "grpo", "--auto-approve")
    old = outputs(fwctl)["Trainer/policy"]["job_id"]
    created = local_plane.deployment(DEPLOYMENT)["createTime"]  # type: ignore[index]

    edit(trainers, "learningRate: 1.0e-5", "learningRate: 2.0e-5")
    plan = fwctl.ok("plan", "-f", "grpo").stdout
    deposed = f"Trainer/policy#deposed-{old}"
    assert f"{deposed} will be deleted" in plan, plan
    assert "lifecycle.createBeforeDestroy" in plan and "no pause" in plan
    result = fwctl.ok("apply", "-f", "grpo", "--auto-approve")
    new = outputs(fwctl)["Trainer/policy"]["job_id"]
    out = result.stdout
    # new job ready -> deployment re-pointed -> only then the old job deleted
    assert (line_of(out, r"Trainer/policy: replace: done") < line_of(out, rf"{BINDING}: reattach: done")
            < line_of(out, rf"{re.escape(deposed)}: delete: started")), out
    assert gone(local_plane, old) and local_plane.trainer(new)["state"] == "JOB_STATE_RUNNING"  # type: ignore[index]
    dep = local_plane.deployment(DEPLOYMENT)
    assert dep is not None and dep["createTime"] == created and dep["state"] == "READY"
    assert dep["hotLoadTrainerJob"].endswith(f"/{new}")
    assert deposed not in fwctl.ok("state", "list").stdout
    assert fwctl("plan", "-f", "grpo", "--detailed-exitcode").returncode == 0


def test_by_default_the_old_job_goes_first_and_serving_pauses(
        fwctl: Fwctl, local_plane: LocalPlane, workdir: Path) -> None:
    fwctl.ok("apply", "-f", "grpo", "--auto-approve")
    old = outputs(fwctl)["Trainer/policy"]["job_id"]

    edit(workdir / "grpo" / "10-trainers.yaml", "learningRate: 1.0e-5", "learningRate: 2.0e-5")
    plan = fwctl.ok("plan", "-f", "grpo").stdout
    assert "serving pauses" in plan and "deposed" not in plan, plan
    result = fwctl.ok("apply", "-f", "grpo", "--auto-approve")
    new = outputs(fwctl)["Trainer/policy"]["job_id"]
    out = result.stdout
    # old job deleted before the new one is created; the deployment re-pointed once the new one is ready
    assert line_of(out, rf"Trainer/policy: replace: deleting: {old} before creating {new}") < line_of(
        out, rf"Trainer/policy: replace: created: {new}"), out
    assert line_of(out, r"Trainer/policy: replace: done") < line_of(out, rf"{BINDING}: reattach: started"), out
    assert gone(local_plane, old)
    dep = local_plane.deployment(DEPLOYMENT)
    assert dep is not None and dep["state"] == "READY" and dep["hotLoadTrainerJob"].endswith(f"/{new}")
    assert fwctl("plan", "-f", "grpo", "--detailed-exitcode").returncode == 0
