"""Trainer states, snapshot pins and the trainer health probe (issue 13 point 5), end to end: the real
`fwctl` against a served `fwctl local serve`, checked through what a user sees and the platform's API."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tests.e2e.conftest import Fwctl, LocalPlane
from tests.e2e.test_bindings import (
    BINDING,
    DEPLOYMENT,
    FULL_POLICY,
    LORA_POLICY,
    hot_load_status,
    pin,
    write_stack,
)
from tests.e2e.test_lifecycle import outputs, wait_for


def fault(plane: LocalPlane, kind: str, job_id: str, **extra: Any) -> dict[str, Any]:
    return dict(plane.admin("POST", "/_local/v1/faults", {"kind": kind, "trainer": job_id, **extra}))


def state(plane: LocalPlane, job_id: str) -> str:
    trainer = plane.trainer(job_id)
    return str(trainer["state"]) if trainer else "missing"


def policy_stack(fwctl: Fwctl, workdir: Path, name: str) -> str:
    write_stack(workdir, name, {"10-policy.yaml": FULL_POLICY})
    fwctl.ok("apply", "-f", name, "--auto-approve")
    return str(outputs(fwctl)["Trainer/policy"]["job_id"])


def plan(fwctl: Fwctl, stack: str) -> tuple[int, str]:
    result = fwctl("plan", "-f", stack, "--detailed-exitcode")
    return result.returncode, result.stdout + result.stderr


def test_an_early_stopped_trainer_is_replaced(fwctl: Fwctl, local_plane: LocalPlane, workdir: Path) -> None:
    job_id = policy_stack(fwctl, workdir, "es")
    fault(local_plane, "early-stop", job_id)
    code, out = plan(fwctl, "es")
    assert code == 2, out
    assert "Trainer/policy must be replaced" in out and "EARLY_STOPPED" in out, out
    assert "never leaves that state and cannot be resumed" in out, out
    status = fwctl("status", "-f", "es").stdout
    assert "EARLY_STOPPED" in status and "fwctl apply replaces it" in status, status
    fwctl.ok("apply", "-f", "es", "--auto-approve")
    new_id = outputs(fwctl)["Trainer/policy"]["job_id"]
    assert new_id != job_id and state(local_plane, new_id) == "JOB_STATE_RUNNING"
    assert state(local_plane, job_id) in ("JOB_STATE_DELETING", "JOB_STATE_DELETED")
    assert plan(fwctl, "es")[0] == 0


def test_a_cancelling_trainer_is_waited_for_then_resumed(fwctl: Fwctl, local_plane: LocalPlane,
                                                         workdir: Path) -> None:
    job_id = policy_stack(fwctl, workdir, "cx")
    fault(local_plane, "cancelling", job_id, pendingSeconds=60)  # 2.4 s at speed 25
    assert state(local_plane, job_id) == "JOB_STATE_CANCELLING"
    code, out = plan(fwctl, "cx")
    assert code == 2, out
    assert "waits until it is CANCELLED, then resumes it" in out, out
    applied = fwctl.ok("apply", "-f", "cx", "--auto-approve").stdout
    assert "CANCELLING" in applied, applied  # the wait shows in the progress
    assert outputs(fwctl)["Trainer/policy"]["job_id"] == job_id
    assert state(local_plane, job_id) == "JOB_STATE_RUNNING"
    assert plan(fwctl, "cx")[0] == 0


def test_requeueing_is_transient_and_an_idle_stop_is_resumed(fwctl: Fwctl, local_plane: LocalPlane,
                                                             workdir: Path) -> None:
    job_id = policy_stack(fwctl, workdir, "rq")
    fault(local_plane, "requeue", job_id, pendingSeconds=50)
    code, out = plan(fwctl, "rq")
    assert code == 0 or "RE_QUEUEING" in out, out  # the platform brings it back by itself
    wait_for(lambda: state(local_plane, job_id) == "JOB_STATE_RUNNING", "the re-queued trainer to run again")
    assert plan(fwctl, "rq")[0] == 0

    fault(local_plane, "idle", job_id)
    code, out = plan(fwctl, "rq")
    assert code == 2 and "PAUSED" in out and "inactivity" in out, out
    fwctl.ok("apply", "-f", "rq", "--auto-approve")
    assert state(local_plane, job_id) == "JOB_STATE_RUNNING"
    assert plan(fwctl, "rq")[0] == 0


def test_the_health_probe_without_the_jwt_exchange(fwctl: Fwctl, local_plane: LocalPlane, workdir: Path) -> None:
    write_stack(workdir, "probe", {"10-policy.yaml": FULL_POLICY})
    local_plane.admin("PUT", "/_local/v1/switches", {"trainerGateway": "api-key"})
    applied = fwctl.ok("apply", "-f", "probe", "--auto-approve").stdout
    assert "healthy: capabilities with the raw API key (the gateway offers no JWT exchange)" in applied, applied
    status = fwctl.ok("status", "-f", "probe").stdout
    assert "probe: capabilities with the raw API key" in status, status

    local_plane.admin("PUT", "/_local/v1/switches", {"trainerGateway": "healthz-only"})
    status = fwctl.ok("status", "-f", "probe").stdout
    assert "probe: healthz only: the gateway offers neither the JWT exchange nor capabilities" in status, status

    local_plane.admin("PUT", "/_local/v1/switches", {"trainerGateway": "jwt"})
    status = fwctl.ok("status", "-f", "probe").stdout
    assert "probe: tinker client via the JWT exchange" in status, status


def save(plane: LocalPlane, job_id: str, name: str) -> str:
    snap = plane.admin("POST", f"/_local/v1/accounts/{plane.account}/rlorTrainerJobs/{job_id}/snapshots",
                       {"name": name, "session": True})
    return str(snap["identity"])


def test_pins_by_step_name_and_deltas_refused(fwctl: Fwctl, local_plane: LocalPlane, workdir: Path) -> None:
    stack = write_stack(workdir, "pins", {"10-policy.yaml": FULL_POLICY, "20-serve.yaml": DEPLOYMENT,
                                          "30-binding.yaml": BINDING.format(scope="perTrainer")})
    fwctl.ok("apply", "-f", "pins", "--auto-approve")
    job_id = outputs(fwctl)["Trainer/policy"]["job_id"]
    base = save(local_plane, job_id, "step-1")
    delta = save(local_plane, job_id, "step-2")
    assert re.fullmatch(r"step-1-[0-9a-f]{8}", base), base

    pin(stack / "30-binding.yaml", "step-1")  # the step name: the session suffix is the platform's
    out = fwctl.ok("plan", "-f", "pins").stdout
    assert f"hotload nothing -> {base}" in out, out
    fwctl.ok("apply", "-f", "pins", "--auto-approve")
    replica = hot_load_status(local_plane, "pins-serve")["replicas"][0]
    assert replica["current_snapshot_identity"] == base and replica["readiness"] is True
    assert outputs(fwctl)["Deployment/serve"]["snapshot"] == base
    assert plan(fwctl, "pins")[0] == 0

    for name in ("step-2", delta):  # a delta cannot be pinned, by step name or identity
        pin(stack / "30-binding.yaml", name)
        result = fwctl("plan", "-f", "pins")
        assert result.returncode == 1, result.stdout + result.stderr
        assert re.search(r"30-binding\.yaml:\d+:\d+: SyncBinding/policy-to-serve: spec\.snapshot: ", result.stderr)
        assert re.search(rf"{delta}\)? of trainer job {job_id} is a delta", result.stderr), result.stderr
        assert f"pin a promotable snapshot (newest: {base})" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr

    pin(stack / "30-binding.yaml", base)  # the full identity works as well
    assert plan(fwctl, "pins")[0] == 0


def test_lora_hot_loads_reported_through_loaded_adapters(fwctl: Fwctl, local_plane: LocalPlane,
                                                         workdir: Path) -> None:
    stack = write_stack(workdir, "lora", {"10-policy.yaml": LORA_POLICY, "20-serve.yaml": DEPLOYMENT,
                                          "30-binding.yaml": BINDING.format(scope="perTrainer")})
    fwctl.ok("apply", "-f", "lora", "--auto-approve")
    job_id = outputs(fwctl)["Trainer/policy"]["job_id"]
    adapter = save(local_plane, job_id, "step-1")
    local_plane.admin("PUT", "/_local/v1/switches", {"adapterStatus": "loaded-adapters"})
    pin(stack / "30-binding.yaml", "step-1")
    fwctl.ok("apply", "-f", "lora", "--auto-approve")
    replica = hot_load_status(local_plane, "lora-serve")["replicas"][0]
    assert replica["loaded_adapters"] == [{"identity": adapter, "status": "loaded"}]
    assert replica["current_snapshot_identity"] is None  # reported only through loaded_adapters
    assert plan(fwctl, "lora")[0] == 0
    status = fwctl.ok("status", "-f", "lora").stdout
    assert f"serves snapshot {adapter} (pinned)" in status, status
