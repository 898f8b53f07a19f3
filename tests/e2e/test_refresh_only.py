"""Refresh-only, as Terraform has it: `plan --refresh-only` reports drift and never writes the state;
`apply --refresh-only` records it (after confirmation) and changes nothing on the platform."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.conftest import Fwctl, LocalPlane

STACK = "grpo-qwen3-8b"
DEPLOYMENT = f"{STACK}-rollout"
DRIFT = "Deployment/rollout: replicas.max: 1 -> 3"


def rescale_by_hand(local_plane: LocalPlane, replicas: int) -> None:
    local_plane.client.patch(f"/v1/accounts/{local_plane.account}/deployments/{DEPLOYMENT}",
                             params={"updateMask": "max_replica_count"}, json={"maxReplicaCount": replicas}
                             ).raise_for_status()


def test_plan_refresh_only_reports_drift_every_night_and_apply_refresh_only_records_it(
        fwctl: Fwctl, local_plane: LocalPlane, workdir: Path) -> None:
    state_file = workdir / ".fwctl" / "state.json"
    fwctl.ok("apply", "-f", "grpo", "--auto-approve")
    assert "No drift" in fwctl.ok("plan", "-f", "grpo", "--refresh-only", "--detailed-exitcode").stdout

    # someone re-scales the deployment by hand; two nightly checks in a row both report it
    rescale_by_hand(local_plane, 3)
    written = state_file.read_bytes()
    for night in (1, 2):
        check = fwctl("plan", "-f", "grpo", "--refresh-only", "--detailed-exitcode")
        assert check.returncode == 2, f"night {night}:\n{check.stdout}\n{check.stderr}"
        assert DRIFT in check.stdout
        as_json = fwctl("plan", "-f", "grpo", "--refresh-only", "--json", "--detailed-exitcode")
        assert as_json.returncode == 2
        assert json.loads(as_json.stdout)["drift"] == [{"address": "Deployment/rollout",
                                                        "message": "replicas.max: 1 -> 3"}]
    assert state_file.read_bytes() == written  # the plan never wrote the state
    assert "refresh-only plan" in check.stdout and "fwctl apply --refresh-only" in check.stdout

    # refresh-only takes no plan options (exit 1: a usage error must not read as "drift found")
    for extra in (("--out", "x.plan"), ("--destroy",), ("--target", "Deployment/rollout")):
        refused = fwctl("plan", "-f", "grpo", "--refresh-only", "--detailed-exitcode", *extra)
        assert refused.returncode == 1 and "--refresh-only cannot be used with" in refused.stderr, refused.stderr

    # apply --refresh-only asks first: without a terminal and --auto-approve it is refused, nothing written
    unconfirmed = fwctl("apply", "-f", "grpo", "--refresh-only")
    assert unconfirmed.returncode == 1 and "--auto-approve" in unconfirmed.stderr
    assert DRIFT in unconfirmed.stdout
    assert state_file.read_bytes() == written

    # recorded: the state holds the platform's values; the platform is left as it is
    recorded = fwctl.ok("apply", "-f", "grpo", "--refresh-only", "--auto-approve")
    assert DRIFT in recorded.stdout and "the state now records 1 change" in recorded.stdout
    state = json.loads(state_file.read_text())
    assert state["serial"] == json.loads(written)["serial"] + 1
    assert state["resources"]["Deployment/rollout"]["outputs"]["replicas"]["max"] == 3
    assert local_plane.deployment(DEPLOYMENT)["maxReplicaCount"] == 3  # type: ignore[index]
    after = fwctl("plan", "-f", "grpo", "--refresh-only", "--detailed-exitcode")
    assert after.returncode == 0 and "No drift" in after.stdout
    assert "No drift" in fwctl.ok("apply", "-f", "grpo", "--refresh-only").stdout  # nothing to record, no question

    # the manifests still say one replica: a normal plan proposes to undo the hand edit
    plan = fwctl("plan", "-f", "grpo", "--detailed-exitcode")
    assert plan.returncode == 2 and "replicas.max: 3 -> 1" in plan.stdout


def test_apply_refresh_only_with_detailed_exitcode_exits_2_whenever_it_records_drift(
        fwctl: Fwctl, local_plane: LocalPlane) -> None:
    fwctl.ok("apply", "-f", "grpo", "--auto-approve")
    clean = fwctl("apply", "-f", "grpo", "--refresh-only", "--detailed-exitcode")
    assert clean.returncode == 0 and "No drift" in clean.stdout, clean.stderr
    for replicas in (3, 2):  # drift found and recorded, every time the platform moves again
        rescale_by_hand(local_plane, replicas)
        recorded = fwctl("apply", "-f", "grpo", "--refresh-only", "--auto-approve", "--detailed-exitcode")
        assert recorded.returncode == 2, f"{recorded.stdout}\n{recorded.stderr}"
        assert "Deployment/rollout: replicas.max:" in recorded.stdout and "the state now records 1 change" in recorded.stdout
        again = fwctl("apply", "-f", "grpo", "--refresh-only", "--auto-approve", "--detailed-exitcode")
        assert again.returncode == 0 and "No drift" in again.stdout  # recorded: nothing left to record
    # on a plain apply it means nothing: refused with exit 1 (not 2, which reads as "changes")
    refused = fwctl("apply", "-f", "grpo", "--auto-approve", "--detailed-exitcode")
    assert refused.returncode == 1 and "--detailed-exitcode on apply needs --refresh-only" in refused.stderr
    assert "--detailed-exitcode" in fwctl.ok("apply", "--help").stdout
