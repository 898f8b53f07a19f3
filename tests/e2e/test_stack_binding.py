"""A state belongs to one stack: every command refuses a state written for another stack, naming both
and the way out, before it changes anything. Through the `fwctl` executable against `fwctl local serve`.

Sharing one state between two stacks (a copied file, one FWCTL_STATE for both) would otherwise make
the second stack's apply delete the first stack's trainers and re-annotate its deployment.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.e2e.conftest import Fwctl, LocalPlane
from tests.e2e.test_lifecycle import edit

STACK = "grpo-qwen3-8b"
OTHER = "other-stack"
DEPLOYMENT = f"{STACK}-rollout"


def platform(plane: LocalPlane) -> tuple[dict[str, str], dict[str, object]]:
    trainers = {t["name"].split("/")[-1]: t["state"] for t in plane.trainers()}
    dep = plane.deployment(DEPLOYMENT) or {}
    return trainers, {k: dep.get(k) for k in ("state", "minReplicaCount", "maxReplicaCount", "description",
                                               "hotLoadTrainerJob", "updateTime")}


def assert_refused(result: object, *, way_out: str) -> None:
    stdout, stderr, code = result.stdout, result.stderr, result.returncode  # type: ignore[attr-defined]
    assert code == 1, stdout + stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    assert f"belongs to stack {STACK}" in lines[0] and f"stack {OTHER}" in lines[0], lines[0]
    assert way_out in lines[0], lines[0]


def test_every_command_refuses_the_state_of_another_stack(fwctl: Fwctl, local_plane: LocalPlane,
                                                          workdir: Path) -> None:
    fwctl.ok("apply", "-f", "grpo", "--auto-approve")
    state = workdir / ".fwctl" / "state.json"
    written = state.read_text()
    before = platform(local_plane)
    assert set(before[0].values()) == {"JOB_STATE_RUNNING"}

    # a second stack, the same manifests under another name (its trainers differ by id), one state
    other = workdir / "other"
    shutil.copytree(workdir / "grpo", other)
    edit(other / "00-stack.yaml", f"name: {STACK}", f"name: {OTHER}")
    shared = ("-f", "other", "--state", str(state))
    commands = [
        ("plan", *shared), ("plan", "--refresh-only", *shared), ("plan", "--destroy", *shared),
        ("apply", "--auto-approve", *shared), ("apply", "--refresh-only", "--auto-approve", *shared),
        ("destroy", "--auto-approve", *shared), ("import", *shared, "Deployment/rollout", DEPLOYMENT),
        ("status", *shared), ("orphans", *shared), ("orphans", "--delete", "--auto-approve", "--grace", "0s", *shared),
        ("output", *shared), ("show", *shared), ("state", "list", *shared), ("state", "show", *shared),
        ("state", "pull", *shared), ("state", "rm", *shared, "Trainer/policy"),
    ]
    for args in commands:
        assert_refused(fwctl(*args), way_out=f"-f the manifests of stack {STACK}")

    # the same through a shared FWCTL_STATE, and with --stack naming the other stack
    via_env = Fwctl(workdir, local_plane.url, env={"FWCTL_STATE": str(state)})
    assert_refused(via_env("apply", "-f", "other", "--auto-approve"), way_out="FWCTL_STATE")
    assert_refused(fwctl("state", "list", "--stack", OTHER, "--state", str(state)), way_out=f"--stack {STACK}")

    # nothing changed: the first stack's trainers run, its deployment is as it was, the state unwritten
    assert state.read_text() == written
    assert platform(local_plane) == before
    assert fwctl("plan", "-f", "grpo", "--detailed-exitcode").returncode == 0

    # its own state, or its own stack: fine
    fwctl.ok("plan", "-f", "other", "--state", str(workdir / "other.json"))
    assert json.loads(fwctl.ok("state", "pull", "--state", str(state)).stdout)["stack"] == STACK  # no stack chosen
    fwctl.ok("state", "list", "-f", "grpo", "--state", str(state))
