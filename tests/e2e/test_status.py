"""`fwctl status`: live health and sync per resource, against `fwctl local serve`."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from tests.e2e.conftest import Fwctl, LocalPlane
from tests.e2e.test_lifecycle import DEPLOYMENT, outputs, wait_for

BINDING = "SyncBinding/policy-to-rollout"


def health(fwctl: Fwctl, expect_exit: int | None, *flags: str) -> dict[str, dict]:
    result = fwctl("status", "-f", "grpo", "--json", *flags)
    assert result.returncode == expect_exit or expect_exit is None and result.returncode in (0, 1), \
        result.stdout + result.stderr
    return {r["address"]: r for r in json.loads(result.stdout)["resources"]}


def spawn(fwctl: Fwctl, *args: str) -> subprocess.Popen[str]:
    """``fwctl ARGS`` started in the background, in the environment ``fwctl(...)`` gives it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FIREWORKS_", "FWCTL_"))}
    env.update(FWCTL_ENDPOINT=fwctl.endpoint, NO_COLOR="1", **fwctl.env)
    executable = shutil.which("fwctl", path=str(Path(sys.executable).parent)) or "fwctl"
    return subprocess.Popen([executable, *args], cwd=fwctl.cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def columns(report: dict[str, dict]) -> dict[str, tuple[str, str]]:
    return {a: (r["health"], r["sync"]) for a, r in report.items()}


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
    assert {r["sync"] for r in report.values()} == {"Synced"}, report
    text = fwctl("status", "-f", "grpo")
    assert text.returncode == 0 and "Deployment/rollout" in text.stdout and "Healthy" in text.stdout
    assert text.stdout.splitlines()[0].split()[:4] == ["ADDRESS", "HEALTH", "SYNC", "USD/H"], text.stdout

    # the policy preempted: Degraded with the platform's reason, exit 1
    policy = outputs(fwctl)["Trainer/policy"]["job_id"]
    local_plane.admin("POST", "/_local/v1/faults", {"kind": "preempt", "trainer": policy})
    wait_for(lambda: local_plane.trainer(policy)["state"] == "JOB_STATE_FAILED", "the preemption")
    report = health(fwctl, 1)
    assert report["Trainer/policy"]["health"] == "Degraded", report
    assert "FAILED" in report["Trainer/policy"]["reason"] and "preempted" in report["Trainer/policy"]["reason"]
    # the binding serves from that trainer: Degraded too, naming it; the plan would resume the trainer
    assert report[BINDING]["health"] == "Degraded", report
    assert "Trainer/policy" in report[BINDING]["reason"], report
    assert report["Trainer/policy"]["sync"] == "OutOfSync" and "resume" in report["Trainer/policy"]["sync_reason"]
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


def test_drift_by_hand_is_out_of_sync(fwctl: Fwctl, local_plane: LocalPlane, workdir: Path) -> None:
    fwctl.ok("apply", "-f", "grpo", "--auto-approve")
    assert {sync for _, sync in columns(health(fwctl, 0, "--detailed-exitcode")).values()} == {"Synced"}
    deployments = f"/v1/accounts/{local_plane.account}/deployments/{DEPLOYMENT}"

    # someone re-scales the deployment by hand: still Healthy, but OutOfSync (exit 0; 2 with --detailed-exitcode)
    local_plane.client.patch(deployments, params={"updateMask": "max_replica_count"},
                             json={"maxReplicaCount": 3}).raise_for_status()
    wait_for(lambda: (local_plane.deployment(DEPLOYMENT) or {}).get("state") == "READY", "the re-scaled deployment")
    report = health(fwctl, 0)
    assert columns(report)["Deployment/rollout"] == ("Healthy", "OutOfSync"), report
    assert "replicas.max" in report["Deployment/rollout"]["sync_reason"], report
    assert columns(report)["Trainer/policy"] == ("Healthy", "Synced"), report
    report = health(fwctl, 2, "--detailed-exitcode")
    text = fwctl("status", "-f", "grpo", "--detailed-exitcode")
    assert text.returncode == 2, text.stdout + text.stderr
    line = next(row for row in text.stdout.splitlines() if row.startswith("Deployment/rollout"))
    assert line.split()[1:3] == ["Healthy", "OutOfSync"] and "replicas.max" in line, text.stdout

    # apply puts it back: Synced again
    fwctl.ok("apply", "-f", "grpo", "--auto-approve")
    assert columns(health(fwctl, 0, "--detailed-exitcode"))["Deployment/rollout"] == ("Healthy", "Synced")

    # the attachment cleared by hand: the deployment is OutOfSync (apply re-points it), the binding Degraded
    local_plane.client.patch(deployments, params={"updateMask": "hot_load_trainer_job"},
                             json={"hotLoadTrainerJob": ""}).raise_for_status()
    wait_for(lambda: (local_plane.deployment(DEPLOYMENT) or {}).get("state") == "READY", "the detached deployment")
    report = health(fwctl, 1, "--detailed-exitcode")
    assert report["Deployment/rollout"]["sync"] == "OutOfSync", report
    assert report[BINDING]["sync"] == "OutOfSync" and report[BINDING]["health"] == "Degraded", report


def test_binding_progressing_while_its_trainer_is_created(fwctl: Fwctl, local_plane: LocalPlane,
                                                         workdir: Path) -> None:
    # new trainers wait long for capacity: the apply is still bringing the policy up while we look
    local_plane.admin("POST", "/_local/v1/faults", {"kind": "capacity", "pendingSeconds": 5000})
    apply = spawn(fwctl, "apply", "-f", "grpo", "--auto-approve")
    try:
        wait_for(lambda: (local_plane.deployment(DEPLOYMENT) or {}).get("state") == "READY",
                 "the deployment, while the policy boots", timeout=120)
        report = health(fwctl, None)
        assert report["Trainer/policy"]["health"] == "Progressing", report
        assert report[BINDING]["health"] == "Progressing", report  # not Healthy, not Degraded
        assert "Trainer/policy" in report[BINDING]["reason"], report
    finally:
        apply.send_signal(signal.SIGINT)
        apply.communicate(timeout=60)
