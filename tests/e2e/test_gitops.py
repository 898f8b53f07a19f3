"""GitOps: the example pipeline's fwctl steps, import, orphans and the drift check, over HTTP."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from tests.e2e.conftest import EXAMPLES, Fwctl, LocalPlane

GRPO_DEPLOYMENT = "grpo-qwen3-8b-rollout"


def run_steps(job: dict, cwd: Path, env: dict[str, str]) -> list[subprocess.CompletedProcess[str]]:
    """Run a workflow job's fwctl steps, in order, as the runner's bash would (-e)."""
    results = []
    for step in job["steps"]:
        if not str(step.get("name", "")).startswith("fwctl"):
            continue
        result = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=cwd, env=env, capture_output=True,
                                text=True, timeout=300)
        results.append(result)
        if result.returncode != 0:
            break
    return results


def test_pipeline_example_runs_plan_apply_and_drift(tmp_path: Path, local_plane: LocalPlane) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(EXAMPLES / "ci", repo)
    workflow = yaml.safe_load((repo / ".github/workflows/fwctl.yml").read_text())
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FIREWORKS_", "FWCTL_", "PG"))}
    env.update(FWCTL_ENDPOINT=local_plane.url, FWCTL_STATE=str(tmp_path / "state.json"), NO_COLOR="1",
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}")

    # pull request: validate, plan with the markdown comment and the saved plan
    results = run_steps(workflow["jobs"]["plan"], repo, env)
    assert [r.returncode for r in results] == [0, 0], results[-1].stderr
    markdown = (repo / "plan.md").read_text()
    assert "| Address | Action | Cost (USD/h) | Why |" in markdown and "Trainer/policy" in markdown and "4 to create" in markdown
    assert json.loads((repo / "plan.json").read_text())["format_version"] == 2
    assert (repo / "fwctl.plan").stat().st_mode & 0o777 == 0o600

    # merge: apply exactly the saved plan, then outputs for the training loop
    results = run_steps(workflow["jobs"]["apply"], repo, env)
    assert [r.returncode for r in results] == [0, 0], results[-1].stderr
    outputs = json.loads((repo / "outputs.json").read_text())
    job_id = outputs["Trainer/policy"]["job_id"]
    assert local_plane.trainer(job_id)["state"] == "JOB_STATE_RUNNING"

    # nightly: no drift, no orphans
    results = run_steps(workflow["jobs"]["drift"], repo, env)
    assert [r.returncode for r in results] == [0, 0], results[-1].stdout + results[-1].stderr
    assert "No orphans" in results[1].stdout

    # someone re-scales the deployment by hand: the nightly check fails with exit 2 and names it
    local_plane.client.patch(f"/v1/accounts/{local_plane.account}/deployments/grpo-prod-rollout",
                             params={"updateMask": "max_replica_count"}, json={"maxReplicaCount": 3}
                             ).raise_for_status()
    results = run_steps(workflow["jobs"]["drift"], repo, env)
    assert results[0].returncode == 2
    assert "Deployment/rollout: replicas.max: 1 -> 3" in results[0].stdout


def test_orphans_are_listed_with_cost_and_deleted(fwctl: Fwctl, local_plane: LocalPlane, workdir: Path) -> None:
    fwctl.ok("apply", "-f", "grpo", "--auto-approve")
    assert "No orphans" in fwctl.ok("orphans", "-f", "grpo").stdout
    (workdir / ".fwctl" / "state.json").unlink()  # state lost: everything just created is leaked spend
    # just created: within the grace period (10m by default) nothing counts; --grace 0s counts it all
    assert json.loads(fwctl.ok("orphans", "-f", "grpo", "--json").stdout) == []
    listed = json.loads(fwctl.ok("orphans", "-f", "grpo", "--json", "--grace", "0s").stdout)
    assert sorted(o["kind"] for o in listed) == ["deployment", "trainer", "trainer"]
    assert all(o["hourly_usd"] > 0 for o in listed)
    refused = fwctl("orphans", "-f", "grpo", "--delete", "--grace", "0s")  # no terminal, no --auto-approve
    assert refused.returncode == 1 and "--auto-approve" in refused.stderr
    assert len(local_plane.trainers()) == 2  # nothing deleted
    fwctl.ok("orphans", "-f", "grpo", "--delete", "--auto-approve", "--grace", "0s")
    assert local_plane.trainers() == []
    assert local_plane.deployment(GRPO_DEPLOYMENT) is None or local_plane.deployment(GRPO_DEPLOYMENT)["state"] in (
        "DELETING", "DELETED")


def test_import_adopts_an_existing_deployment(fwctl: Fwctl, local_plane: LocalPlane, workdir: Path) -> None:
    fwctl.ok("apply", "-f", "grpo", "--auto-approve")
    created = local_plane.deployment(GRPO_DEPLOYMENT)["createTime"]
    (workdir / ".fwctl" / "state.json").unlink()
    result = fwctl.ok("import", "-f", "grpo", "Deployment/rollout", GRPO_DEPLOYMENT)
    assert "Imported" in result.stdout
    assert fwctl.ok("state", "list").stdout.split() == ["Deployment/rollout"]
    plan = fwctl.ok("plan", "-f", "grpo").stdout
    assert "Deployment/rollout will be" not in plan  # adopted as it is: nothing to do to it
    assert "Trainer/policy will be created" in plan
    fwctl.ok("apply", "-f", "grpo", "--auto-approve")
    assert local_plane.deployment(GRPO_DEPLOYMENT)["createTime"] == created

    # refused: already managed, undeclared address, another stack's deployment, a missing one
    again = fwctl("import", "-f", "grpo", "Deployment/rollout", GRPO_DEPLOYMENT)
    assert again.returncode == 1 and "already managed" in again.stderr
    undeclared = fwctl("import", "-f", "grpo", "Deployment/nope", GRPO_DEPLOYMENT)
    assert undeclared.returncode == 1 and "not declared" in undeclared.stderr
    other = workdir / "other"
    shutil.copytree(workdir / "grpo", other)
    stack = other / "00-stack.yaml"
    stack.write_text(stack.read_text().replace("name: grpo-qwen3-8b", "name: other-stack"))
    foreign = fwctl("import", "-f", "other", "--state", str(workdir / "other.json"), "Deployment/rollout",
                    GRPO_DEPLOYMENT)
    assert foreign.returncode == 1 and "managed by stack 'grpo-qwen3-8b'" in foreign.stderr
    missing = fwctl("import", "-f", "other", "--state", str(workdir / "other.json"), "Deployment/rollout",
                    "no-such-deployment")
    assert missing.returncode == 1 and "no deployment no-such-deployment" in missing.stderr
