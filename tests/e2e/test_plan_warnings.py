"""Issue 13 point 4 through the fwctl executable: rules the platform does not enforce, relaxed.

- a shapeless deployment without ``acceptShapelessRisk`` is valid (the platform accepts it): fwctl warns
  at plan time, located like an error, in validate, text, JSON and markdown; apply proceeds; the flag
  silences the warning;
- ``deploymentShape: default`` is valid: the platform picks the shape and the plan after apply is a no-op.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from tests.e2e.conftest import REPO, Fwctl, LocalPlane

PLAN_SCHEMA = json.loads((REPO / "schemas" / "plan.schema.json").read_text())
SCRATCH = """apiVersion: fwctl/v1
kind: Deployment
metadata: {name: scratch}
spec:
  baseModel: accounts/fireworks/models/qwen3-8b
  accelerator: {type: NVIDIA_H100_80GB, count: 2}
  replicas: {min: 1, max: 1}
"""
SCRATCH_FILE = "grpo/30-scratch.yaml"  # "accelerator" is on line 6, column 3
WHERE = f"{SCRATCH_FILE}:6:3: Deployment/scratch: spec.accelerator: "
MESSAGE = "an accelerator without a deploymentShape creates a shapeless deployment"


def _add_scratch(workdir: Path) -> Path:
    scratch = workdir / SCRATCH_FILE
    scratch.write_text(SCRATCH)
    return scratch


def test_a_shapeless_deployment_is_warned_about_everywhere_and_applied(
        fwctl: Fwctl, local_plane: LocalPlane, workdir: Path) -> None:
    serving = _add_scratch(workdir)

    validated = fwctl("validate", "-f", "grpo")
    assert validated.returncode == 0, validated.stdout + validated.stderr  # before: 1, "needs acceptShapelessRisk"
    assert f"Warning: {WHERE}{MESSAGE}" in validated.stderr
    report = json.loads(fwctl.ok("validate", "-f", "grpo", "--json").stdout)
    (warning,) = report["stacks"][0]["warnings"]
    assert (warning["file"], warning["line"], warning["col"]) == (SCRATCH_FILE, 6, 3)
    assert (warning["address"], warning["field"]) == ("Deployment/scratch", "spec.accelerator")

    text = fwctl.ok("plan", "-f", "grpo").stdout
    assert f"Warning: {WHERE}{MESSAGE}" in text and "acceptShapelessRisk: true" in text
    plan = json.loads(fwctl.ok("plan", "-f", "grpo", "--format", "json").stdout)
    jsonschema.Draft202012Validator(PLAN_SCHEMA).validate(plan)
    assert [(w["address"], w["line"]) for w in plan["warnings"]] == [("Deployment/scratch", 6)]
    markdown = fwctl.ok("plan", "-f", "grpo", "--format", "markdown").stdout
    assert f"⚠️ **Warning:** `{SCRATCH_FILE}:6:3`: `Deployment/scratch`: `spec.accelerator`" in markdown

    applied = fwctl("apply", "-f", "grpo", "--auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    scratch = local_plane.deployment("grpo-qwen3-8b-scratch")
    assert scratch is not None and scratch["state"] == "READY"
    assert scratch["deploymentShape"] == "" and scratch["acceleratorType"] == "NVIDIA_H100_80GB"

    again = fwctl("plan", "-f", "grpo", "--detailed-exitcode")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "No changes" in again.stdout and MESSAGE in again.stdout  # the risk stays; so does the warning

    # acknowledging the risk silences the warning, and is no change to the deployment
    serving.write_text(serving.read_text() + "  acceptShapelessRisk: true\n")
    assert MESSAGE not in fwctl.ok("validate", "-f", "grpo").stderr
    quiet = fwctl("plan", "-f", "grpo", "--detailed-exitcode")
    assert quiet.returncode == 0 and "No changes" in quiet.stdout and "Warning" not in quiet.stdout


def test_a_warning_never_names_a_resource_a_target_plan_leaves_out(fwctl: Fwctl, workdir: Path) -> None:
    _add_scratch(workdir)
    plan = json.loads(fwctl.ok("plan", "-f", "grpo", "--target", "Trainer/policy", "--format", "json").stdout)
    assert plan["warnings"] == []
    plan = json.loads(fwctl.ok("plan", "-f", "grpo", "--target", "Deployment/scratch", "--format", "json").stdout)
    assert [w["address"] for w in plan["warnings"]] == ["Deployment/scratch"]


def test_deployment_shape_default_applies_and_then_plans_no_changes(
        fwctl: Fwctl, local_plane: LocalPlane, workdir: Path) -> None:
    serving = workdir / "grpo" / "20-serving.yaml"
    named = "deploymentShape: accounts/fireworks/deploymentShapes/rft-qwen3-8b"
    assert named in serving.read_text()
    serving.write_text(serving.read_text().replace(named, "deploymentShape: default"))

    validated = fwctl("validate", "-f", "grpo")
    assert validated.returncode == 0, validated.stderr  # before: "must be a deployment shape like ..."
    applied = fwctl("apply", "-f", "grpo", "--auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    rollout = local_plane.deployment("grpo-qwen3-8b-rollout")
    assert rollout is not None
    assert rollout["deploymentShape"].startswith("accounts/fireworks/deploymentShapes/rft-qwen3-8b/versions/")

    again = fwctl("plan", "-f", "grpo", "--detailed-exitcode")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "No changes" in again.stdout
    drift = fwctl("plan", "-f", "grpo", "--refresh-only")
    assert "No drift" in drift.stdout, drift.stdout + drift.stderr
