"""Plan refuses, with located errors, what apply would be refused by the account's catalog."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.e2e.conftest import Fwctl, LocalPlane
from tests.e2e.test_lifecycle import edit

LOCATED = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+):(?P<col>\d+): (?P<address>\w+/[\w-]+): (?P<field>[\w.]+): .+$")


def plan_errors(fwctl: Fwctl) -> list[re.Match[str]]:
    """Run plan expecting a refusal: exit 1, no traceback, every stderr line a located error."""
    result = fwctl("plan", "-f", "grpo")
    assert result.returncode == 1, f"plan should fail:\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr and "Plan:" not in result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    matches = [LOCATED.match(line) for line in lines]
    assert lines and all(matches), result.stderr
    return [m for m in matches if m]


def where(errors: list[re.Match[str]]) -> set[tuple[str, str, str]]:
    return {(Path(m["file"]).name, m["address"], m["field"]) for m in errors}


def test_catalog_mistakes_are_plan_errors(fwctl: Fwctl, local_plane: LocalPlane, workdir: Path) -> None:
    grpo = workdir / "grpo"
    # A training shape of another base model, a deployment shape that does not exist: today plan says
    # "3 to create" and apply fails; now plan names both, at their lines, and nothing is created.
    edit(grpo / "10-trainers.yaml", "trainingShapes/qwen3-8b-128k-h200\n",
         "trainingShapes/qwen3-4b-minimum\n")
    edit(grpo / "20-serving.yaml", "deploymentShapes/rft-qwen3-8b", "deploymentShapes/qwen3-8b-nope")
    errors = plan_errors(fwctl)
    assert where(errors) == {("10-trainers.yaml", "Trainer/policy", "spec.trainingShape"),
                             ("20-serving.yaml", "Deployment/rollout", "spec.deploymentShape")}
    by_field = {m["field"]: m for m in errors}
    assert "qwen3-4b" in by_field["spec.trainingShape"][0] and "qwen3-8b-nope" in by_field["spec.deploymentShape"][0]
    assert by_field["spec.trainingShape"]["line"] == "8"  # the trainingShape line of the policy document
    assert fwctl("apply", "-f", "grpo", "--auto-approve").returncode == 1
    assert local_plane.trainers() == [] and local_plane.deployments() == []

    # An unknown base model (the deployment), and a LoRA rank on a full-parameter shape (the policy).
    edit(grpo / "10-trainers.yaml", "trainingShapes/qwen3-4b-minimum\n", "trainingShapes/qwen3-8b-128k-h200\n")
    edit(grpo / "10-trainers.yaml", "loraRank: 0 ", "loraRank: 16 ")
    edit(grpo / "20-serving.yaml", "deploymentShapes/qwen3-8b-nope", "deploymentShapes/rft-qwen3-8b")
    edit(grpo / "20-serving.yaml", "baseModel: accounts/fireworks/models/qwen3-8b",
         "baseModel: accounts/fireworks/models/qwen3-9b")
    errors = plan_errors(fwctl)
    assert {("10-trainers.yaml", "Trainer/policy", "spec.loraRank"),
            ("20-serving.yaml", "Deployment/rollout", "spec.baseModel")} <= where(errors)
    assert any("qwen3-9b" in m[0] and "catalog" in m[0] for m in errors)
    assert local_plane.trainers() == []

    # A context length longer than the base model takes (a trainer without a shape).
    edit(grpo / "10-trainers.yaml", "loraRank: 16 ", "loraRank: 0 ")
    edit(grpo / "10-trainers.yaml", "  trainingShape: accounts/fireworks/trainingShapes/qwen3-8b-128k-h200\n",
         "  maxContextLength: 262144\n")
    edit(grpo / "20-serving.yaml", "baseModel: accounts/fireworks/models/qwen3-9b",
         "baseModel: accounts/fireworks/models/qwen3-8b")
    errors = plan_errors(fwctl)
    assert where(errors) == {("10-trainers.yaml", "Trainer/policy", "spec.maxContextLength")}

    # Fixed: the plan goes through, and apply does what it said.
    edit(grpo / "10-trainers.yaml", "  maxContextLength: 262144\n",
         "  trainingShape: accounts/fireworks/trainingShapes/qwen3-8b-128k-h200\n")
    plan = json.loads(fwctl.ok("plan", "-f", "grpo", "--json").stdout)
    assert {c["action"] for c in plan["changes"]} == {"create"}
    fwctl.ok("apply", "-f", "grpo", "--auto-approve")
    assert {t["state"] for t in local_plane.trainers()} == {"JOB_STATE_RUNNING"}


def requests_of_a_plan(fwctl: Fwctl, local_plane: LocalPlane) -> int:
    before = local_plane.admin("GET", "/_local/v1/stats")["requests"]
    fwctl.ok("plan", "-f", "grpo")
    return int(local_plane.admin("GET", "/_local/v1/stats")["requests"] - before)


def test_the_catalog_is_read_once_per_name(fwctl: Fwctl, local_plane: LocalPlane, workdir: Path) -> None:
    # A second deployment on the same model and shape costs the plan one request (reading that
    # deployment), not three: the model and the shape are read once for the whole plan.
    one = requests_of_a_plan(fwctl, local_plane)
    serving = workdir / "grpo" / "20-serving.yaml"
    text = serving.read_text()
    serving.write_text(text + "---\n" + text.split("---")[0].replace("name: rollout}", "name: rollout-2}"))
    assert requests_of_a_plan(fwctl, local_plane) == one + 1


def test_a_region_the_platform_does_not_have_is_a_plan_error(fwctl: Fwctl, local_plane: LocalPlane,
                                                             workdir: Path) -> None:
    grpo = workdir / "grpo"
    edit(grpo / "10-trainers.yaml", "  displayName: grpo policy\n", "  displayName: grpo policy\n  region: US_VIRGINA_1\n")
    edit(grpo / "20-serving.yaml", "  replicas: {min: 1, max: 1}\n", "  replicas: {min: 1, max: 1}\n  region: EUROPE\n")
    errors = plan_errors(fwctl)
    assert where(errors) == {("10-trainers.yaml", "Trainer/policy", "spec.region"),
                             ("20-serving.yaml", "Deployment/rollout", "spec.region")}
    by_file = {Path(m["file"]).name: m for m in errors}
    assert by_file["10-trainers.yaml"]["line"] == "13"  # the region line of the policy document
    assert "did you mean US_VIRGINIA_1?" in by_file["10-trainers.yaml"][0]
    assert "EUROPE is a multi-region" in by_file["20-serving.yaml"][0]
    assert fwctl("apply", "-f", "grpo", "--auto-approve").returncode == 1
    assert local_plane.trainers() == [] and local_plane.deployments() == []

    # the platform's names pass the check
    edit(grpo / "10-trainers.yaml", "region: US_VIRGINA_1", "region: US_VIRGINIA_1")
    edit(grpo / "20-serving.yaml", "region: EUROPE", "region: US_VIRGINIA_1")
    assert "Plan:" in fwctl.ok("plan", "-f", "grpo").stdout
