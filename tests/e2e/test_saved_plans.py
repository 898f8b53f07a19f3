"""Saved plans against `fwctl local serve`: plan --out, apply FILE, and every refusal."""

from __future__ import annotations

import json
import shutil
import stat
from pathlib import Path

import jsonschema

from tests.e2e.conftest import REPO, Fwctl, LocalPlane
from tests.e2e.test_lifecycle import edit

STACK = "grpo-qwen3-8b"
SCHEMA = json.loads((REPO / "schemas" / "plan.schema.json").read_text())


def refused(fwctl: Fwctl, *args: str) -> str:
    """Run fwctl expecting a refusal: exit 1, one line on stderr, no traceback; returns that line."""
    result = fwctl(*args)
    assert result.returncode == 1, f"fwctl {' '.join(args)} should fail:\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


def trainers_replaced(plan: dict) -> list[str]:
    return [c["address"] for c in plan["changes"]
            if c["kind"] in ("Trainer", "ReferenceTrainer") and c["actions"] == ["delete", "create"]]


def test_saved_plans(fwctl: Fwctl, local_plane: LocalPlane, workdir: Path) -> None:
    grpo = workdir / "grpo"

    # plan --out: written 0600; show --json prints it in the published format
    fwctl.ok("plan", "-f", "grpo", "--out", "first.plan")
    assert stat.S_IMODE((workdir / "first.plan").stat().st_mode) == 0o600
    shown = json.loads(fwctl.ok("show", "--json", "first.plan").stdout)
    jsonschema.Draft202012Validator(SCHEMA).validate(shown)
    assert shown["stack"] == STACK and shown["state_serial"] == 0
    assert {tuple(c["actions"]) for c in shown["changes"]} == {("create",)}
    assert local_plane.trainers() == []

    # apply FILE: no -f, no --auto-approve; the state takes the plan's lineage
    fwctl.ok("apply", "first.plan")
    assert {t["state"] for t in local_plane.trainers()} == {"JOB_STATE_RUNNING"}
    state = json.loads((workdir / ".fwctl" / "state.json").read_text())
    assert state["lineage"] == shown["state_lineage"]
    assert fwctl("plan", "-f", "grpo", "--detailed-exitcode").returncode == 0

    # the same plan again is stale: it was made with no state
    assert refused(fwctl, "apply", "first.plan").startswith("stale plan: first.plan was made from no state")

    # two plans from the same state: the first applied moves the state, the second is then stale
    edit(grpo / "20-serving.yaml", "replicas: {min: 1, max: 1}", "replicas: {min: 1, max: 2}")
    fwctl.ok("plan", "-f", "grpo", "--out", "second.plan")
    markdown = fwctl.ok("plan", "-f", "grpo", "--format", "markdown", "--out", "third.plan").stdout
    assert "| `Deployment/rollout` | ~ update |" in markdown and "⚠️" not in markdown
    fwctl.ok("apply", "second.plan")
    assert local_plane.deployment(f"{STACK}-rollout")["maxReplicaCount"] == 2  # type: ignore[index]
    line = refused(fwctl, "apply", "third.plan")
    assert line.startswith(f"stale plan: third.plan was made from serial {state['serial']}"), line

    # a real replacing plan: the JSON validates and a policy sees the trainer replaced
    edit(grpo / "10-trainers.yaml", "learningRate: 1.0e-5", "learningRate: 2.0e-5")
    replacing = json.loads(fwctl.ok("plan", "-f", "grpo", "--json", "--out", "replace.plan").stdout)
    jsonschema.Draft202012Validator(SCHEMA).validate(replacing)
    assert trainers_replaced(replacing) == ["Trainer/policy"]
    assert trainers_replaced(shown) == []
    assert "Trainer/policy must be replaced" in fwctl.ok("show", "replace.plan").stdout

    # another endpoint
    assert "was made for endpoint" in refused(fwctl, "apply", "replace.plan", "--endpoint", "http://127.0.0.1:9")

    # another stack: a plan of stack grpo-other applied against this stack's state
    shutil.copytree(grpo, workdir / "other")
    edit(workdir / "other" / "00-stack.yaml", "name: grpo-qwen3-8b", "name: grpo-other")
    fwctl.ok("plan", "-f", "other", "--state", "other.json", "--out", "other.plan")
    line = refused(fwctl, "apply", "other.plan")
    assert "is a plan for stack grpo-other" in line and f"belongs to stack {STACK}" in line
    # ... and -f naming another stack than the plan's
    assert "but -f names stack grpo-other" in refused(fwctl, "apply", "replace.plan", "-f", "other")

    # tampered and damaged files
    doc = json.loads((workdir / "replace.plan").read_text())
    doc["plan"]["changes"] = [c for c in doc["plan"]["changes"] if c["action"] != "replace"]
    (workdir / "tampered.plan").write_text(json.dumps(doc))
    assert "was modified after" in refused(fwctl, "apply", "tampered.plan")
    assert "was modified after" in refused(fwctl, "show", "--json", "tampered.plan")
    (workdir / "broken.plan").write_text("{")
    assert "is not a saved fwctl plan" in refused(fwctl, "apply", "broken.plan")
    assert "cannot read the plan file" in refused(fwctl, "apply", "missing.plan")

    # no refusal wrote the state: the replacing plan is still current, and applies
    fwctl.ok("apply", "replace.plan")
    assert trainers_replaced(json.loads(fwctl.ok("plan", "-f", "grpo", "--json").stdout)) == []
