"""The research loop on a laptop: `fwctl apply` the GRPO example, then the unchanged training script.

The script (scripts/training_loop.py, also the end of `make demo`) uses only the official fireworks-ai
SDK and the keyword arguments of `fwctl output --json`: ``from_firetitan_config(**sdk)``,
``create_training_client``, ``create_reference_client``, ``forward_backward_custom`` + ``optim_step``,
``save_weights_for_sampler(...).result().path``, ``create_deployment_sampler(model_path=...)`` and a
sample, against a served `fwctl local serve`; then the snapshot is pinned in the manifest and the plan
stays clean.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import EXAMPLES, LOCAL_KEY, REPO, Fwctl, LocalPlane, served_plane

SCRIPT = REPO / "scripts" / "training_loop.py"


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPlane]:
    with served_plane(tmp_path_factory.mktemp("plane") / "local.db", "200") as served:
        yield served


def run_script(outputs: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FIREWORKS_", "FWCTL_"))}
    env |= {"FIREWORKS_API_KEY": LOCAL_KEY, "TINKER_TELEMETRY": "0"}
    return subprocess.run([sys.executable, str(SCRIPT), str(outputs)], capture_output=True, text=True,
                          env=env, timeout=300, cwd=outputs.parent)


def test_the_sdk_trains_on_what_fwctl_applied(tmp_path: Path, plane: LocalPlane) -> None:
    pytest.importorskip("torch")  # forward_backward_custom differentiates the objective with torch
    work = tmp_path / "work"
    shutil.copytree(EXAMPLES / "grpo", work / "grpo")
    fwctl = Fwctl(work, plane.url)
    fwctl.ok("apply", "-f", "grpo", "--auto-approve")
    outputs = work / "outputs.json"
    outputs.write_text(fwctl.ok("output", "-f", "grpo", "--json").stdout)
    policy = json.loads(outputs.read_text())["Trainer/policy"]

    done = run_script(outputs)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert [line.split(":")[0] for line in lines if line.startswith("step ")] == ["step 1", "step 2", "step 3"]
    summary = json.loads(lines[-1])
    losses = summary["losses"]
    assert len(losses) == 3 and losses[0] > losses[1] > losses[2]
    snapshot = summary["snapshot"]
    assert snapshot.startswith("step-3-")  # the SDK's per-session suffix

    # the snapshot is a real one: the control plane lists it on the policy trainer
    listed = plane.get(f"/v1/accounts/{plane.account}/rlorTrainerJobs/{policy['job_id']}/checkpoints")
    assert snapshot in {c["name"].rsplit("/", 1)[-1] for c in listed["checkpoints"]}

    # sampled through the deployment, which the SDK hot-loaded with that snapshot (as on the platform)
    sample = summary["sample"]
    assert len(sample["tokens"]) == 4 and all(lp <= 0 for lp in sample["logprobs"]), sample
    assert any(line.startswith("sample from deployment ") for line in lines), done.stdout
    deployment = json.loads(outputs.read_text())["Deployment/rollout"]["deployment_id"]
    headers = {"fireworks-deployment": f"accounts/{plane.account}/deployments/{deployment}",
               "fireworks-model": "accounts/fireworks/models/qwen3-8b"}
    replicas = plane.client.get("/hot_load/v1/models/hot_load", headers=headers).json()["replicas"]
    assert {r["current_snapshot_identity"] for r in replicas} == {snapshot}

    # training and the loop's hot load are not drift (an unpinned binding): the stack still plans clean
    assert fwctl("plan", "-f", "grpo", "--detailed-exitcode").returncode == 0
    # pinning what it serves records the pin and changes nothing on the platform
    serving = work / "grpo" / "20-serving.yaml"
    serving.write_text(serving.read_text().rstrip("\n") + f"\n  snapshot: {snapshot}\n")
    pinned = fwctl("plan", "-f", "grpo", "--detailed-exitcode")
    assert pinned.returncode in (0, 2), pinned.stdout + pinned.stderr
    assert "hotload" not in pinned.stdout.lower() and "replace" not in pinned.stdout.lower(), pinned.stdout
    fwctl.ok("apply", "-f", "grpo", "--auto-approve")
    assert fwctl("plan", "-f", "grpo", "--detailed-exitcode").returncode == 0
