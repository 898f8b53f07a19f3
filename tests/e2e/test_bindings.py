"""Weight-sync bindings and reference trainers end to end, against `fwctl local serve`.

Every claim is checked through the platform's REST API (control plane and hot-load API), not
only through what fwctl prints.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tests.e2e.conftest import Fwctl, LocalPlane
from tests.e2e.test_lifecycle import edit, outputs, wait_for

MODEL = "accounts/fireworks/models/qwen3-8b"

STACK = """\
apiVersion: fwctl/v1
kind: Stack
metadata: {{name: {name}}}
spec:
  region: US_VIRGINIA_1
"""

LORA_POLICY = f"""\
apiVersion: fwctl/v1
kind: Trainer
metadata: {{name: policy}}
spec:
  baseModel: {MODEL}
  loraRank: 16
  trainingShape: accounts/fireworks/trainingShapes/qwen3-8b-128k-lora
  learningRate: 5.0e-5
"""

FULL_POLICY = f"""\
apiVersion: fwctl/v1
kind: Trainer
metadata: {{name: policy}}
spec:
  baseModel: {MODEL}
  loraRank: 0
  trainingShape: accounts/fireworks/trainingShapes/qwen3-8b-128k-h200
  learningRate: 1.0e-5
"""

DEPLOYMENT = f"""\
apiVersion: fwctl/v1
kind: Deployment
metadata: {{name: serve}}
spec:
  baseModel: {MODEL}
  deploymentShape: accounts/fireworks/deploymentShapes/rft-qwen3-8b
  replicas: {{min: 1, max: 1}}
  hotLoad: {{enabled: true, transition: ASYNC}}
"""

BINDING = """\
apiVersion: fwctl/v1
kind: SyncBinding
metadata: {{name: policy-to-serve}}
spec:
  trainer: policy
  deployment: serve
  scope: {scope}
"""


def write_stack(workdir: Path, name: str, files: dict[str, str]) -> Path:
    stack = workdir / name
    stack.mkdir(parents=True, exist_ok=True)
    (stack / "00-stack.yaml").write_text(STACK.format(name=name))
    for file, text in files.items():
        (stack / file).write_text(text)
    return stack


def hot_load_status(plane: LocalPlane, dep_id: str) -> dict[str, Any]:
    response = plane.client.get("/hot_load/v1/models/hot_load", headers={
        "fireworks-deployment": f"accounts/{plane.account}/deployments/{dep_id}",
        "fireworks-model": MODEL,
    })
    response.raise_for_status()
    return dict(response.json())


def serves(plane: LocalPlane, dep_id: str, snapshot: str) -> bool:
    replicas = hot_load_status(plane, dep_id)["replicas"]
    return bool(replicas) and all(r["current_snapshot_identity"] == snapshot and r["readiness"] for r in replicas)


def snapshot(plane: LocalPlane, job_id: str, name: str) -> None:
    plane.admin("POST", f"/_local/v1/accounts/{plane.account}/rlorTrainerJobs/{job_id}/snapshots", {"name": name})


def pin(binding: Path, name: str | None) -> None:
    text = re.sub(r"\n  snapshot: .*", "", binding.read_text())
    if name is not None:
        text = text.rstrip("\n") + f"\n  snapshot: {name}\n"
    binding.write_text(text)


def test_per_trainer_binding_pins_drift_and_reattach(fwctl: Fwctl, local_plane: LocalPlane, workdir: Path) -> None:
    stack = write_stack(workdir, "bind-pt", {
        "10-policy.yaml": LORA_POLICY, "20-serve.yaml": DEPLOYMENT,
        "30-binding.yaml": BINDING.format(scope="perTrainer"),
    })
    dep_id = "bind-pt-serve"
    binding = stack / "30-binding.yaml"

    fwctl.ok("apply", "-f", "bind-pt", "--auto-approve")
    job_id = outputs(fwctl)["Trainer/policy"]["job_id"]
    dep = local_plane.deployment(dep_id)
    assert dep is not None and dep["state"] == "READY"
    assert dep["hotLoadTrainerJob"] == f"accounts/{local_plane.account}/rlorTrainerJobs/{job_id}"
    assert fwctl("plan", "-f", "bind-pt", "--detailed-exitcode").returncode == 0

    # Two sampler snapshots saved by the "training loop" (the control plane's admin endpoint).
    snapshot(local_plane, job_id, "step-0100")
    snapshot(local_plane, job_id, "step-0200")

    # Pin A, then B, then A again: each verified through the hot-load status API.
    for name in ("step-0100", "step-0200", "step-0100"):
        pin(binding, name)
        plan = fwctl.ok("plan", "-f", "bind-pt").stdout
        assert "SyncBinding/policy-to-serve will hot-load a snapshot" in plan, plan
        fwctl.ok("apply", "-f", "bind-pt", "--auto-approve")
        assert serves(local_plane, dep_id, name), hot_load_status(local_plane, dep_id)
        assert fwctl("plan", "-f", "bind-pt", "--detailed-exitcode").returncode == 0
        served = json.loads(fwctl.ok("output", "--json").stdout)["Deployment/serve"]
        assert served["snapshot"] == name and served["snapshot_loaded_at"]

    # A pin of a snapshot the trainer does not have: a located plan error listing the real ones.
    pin(binding, "step-9999")
    result = fwctl("plan", "-f", "bind-pt")
    assert result.returncode == 1
    assert re.search(r"30-binding\.yaml:\d+:\d+: SyncBinding/policy-to-serve: spec\.snapshot: ", result.stderr), \
        result.stderr
    assert "step-9999" in result.stderr and "step-0200, step-0100" in result.stderr, result.stderr
    assert serves(local_plane, dep_id, "step-0100"), "a failed plan must not touch the deployment"

    # A hot load made by hand is drift: the next plan loads the pinned snapshot again.
    pin(binding, "step-0100")
    local_plane.client.post("/hot_load/v1/models/hot_load", json={"identity": "step-0200"}, headers={
        "fireworks-deployment": f"accounts/{local_plane.account}/deployments/{dep_id}",
        "fireworks-model": MODEL,
    }).raise_for_status()
    wait_for(lambda: serves(local_plane, dep_id, "step-0200"), "the manual hot load")
    result = fwctl("plan", "-f", "bind-pt", "--detailed-exitcode")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "hotload step-0200 -> step-0100" in result.stdout, result.stdout
    fwctl.ok("apply", "-f", "bind-pt", "--auto-approve")
    assert serves(local_plane, dep_id, "step-0100")

    # Replace the trainer (pin dropped: a new job has no snapshots): same deployment, new attachment.
    pin(binding, None)
    created = local_plane.deployment(dep_id)["createTime"]  # type: ignore[index]
    edit(stack / "10-policy.yaml", "learningRate: 5.0e-5", "learningRate: 6.0e-5")
    plan = fwctl.ok("plan", "-f", "bind-pt").stdout
    assert "Trainer/policy must be replaced" in plan and "SyncBinding/policy-to-serve will be reattached" in plan
    assert "Deployment/serve will" not in plan and "Deployment/serve must" not in plan, plan
    fwctl.ok("apply", "-f", "bind-pt", "--auto-approve")
    new_job = outputs(fwctl)["Trainer/policy"]["job_id"]
    assert new_job != job_id
    dep = local_plane.deployment(dep_id)
    assert dep is not None and dep["createTime"] == created and dep["state"] == "READY"
    assert dep["hotLoadTrainerJob"] == f"accounts/{local_plane.account}/rlorTrainerJobs/{new_job}"
    old = local_plane.trainer(job_id)
    assert old is None or old["state"] in ("JOB_STATE_DELETED", "JOB_STATE_DELETING")
    assert fwctl("plan", "-f", "bind-pt", "--detailed-exitcode").returncode == 0


def test_per_deployment_binding(fwctl: Fwctl, local_plane: LocalPlane, workdir: Path) -> None:
    write_stack(workdir, "bind-pd", {
        "10-policy.yaml": FULL_POLICY, "20-serve.yaml": DEPLOYMENT,
        "30-binding.yaml": BINDING.format(scope="perDeployment"),
    })
    dep_id = "bind-pd-serve"
    fwctl.ok("apply", "-f", "bind-pd", "--auto-approve")
    job_id = outputs(fwctl)["Trainer/policy"]["job_id"]
    trainer = local_plane.trainer(job_id)
    dep = local_plane.deployment(dep_id)
    assert trainer is not None and dep is not None
    assert trainer["state"] == "JOB_STATE_RUNNING" and dep["state"] == "READY"
    assert trainer["hotLoadDeploymentId"] == dep_id
    assert dep["createTime"] <= trainer["createTime"], "perDeployment: the deployment exists first"
    assert not dep.get("hotLoadTrainerJob"), "perDeployment: the deployment does not name the trainer"
    assert fwctl("plan", "-f", "bind-pd", "--detailed-exitcode").returncode == 0

    # A snapshot of the perDeployment trainer is served through the deployment's own bucket.
    snapshot(local_plane, job_id, "base-0001")
    pin(workdir / "bind-pd" / "30-binding.yaml", "base-0001")
    fwctl.ok("apply", "-f", "bind-pd", "--auto-approve")
    assert serves(local_plane, dep_id, "base-0001"), hot_load_status(local_plane, dep_id)
    assert fwctl("plan", "-f", "bind-pd", "--detailed-exitcode").returncode == 0


def test_reference_shared_vs_separate(fwctl: Fwctl, local_plane: LocalPlane, workdir: Path) -> None:
    reference = "apiVersion: fwctl/v1\nkind: ReferenceTrainer\nmetadata: {name: reference}\nspec:\n  policy: policy\n"
    separate = reference + "  trainingShape: accounts/fireworks/trainingShapes/qwen3-8b-128k-lora\n"
    stack = write_stack(workdir, "ref", {"10-policy.yaml": LORA_POLICY, "20-reference.yaml": reference})

    plan = fwctl.ok("plan", "-f", "ref").stdout
    assert "shared with Trainer/policy" in plan, plan
    fwctl.ok("apply", "-f", "ref", "--auto-approve")
    assert len(local_plane.trainers()) == 1, "a shared reference has no job of its own"
    assert "shared with Trainer/policy" in fwctl.ok("show").stdout
    assert fwctl("plan", "-f", "ref", "--detailed-exitcode").returncode == 0

    # shared -> separate: a forward-only job is created
    (stack / "20-reference.yaml").write_text(separate)
    plan = fwctl.ok("plan", "-f", "ref").stdout
    assert "ReferenceTrainer/reference will be created" in plan, plan
    fwctl.ok("apply", "-f", "ref", "--auto-approve")
    ref_job = outputs(fwctl)["ReferenceTrainer/reference"]["job_id"]
    trainers = {t["name"].split("/")[-1]: t for t in local_plane.trainers()}
    assert len(trainers) == 2 and trainers[ref_job].get("forwardOnly") is True
    assert trainers[ref_job]["state"] == "JOB_STATE_RUNNING"
    assert "replicaCount" not in trainers[ref_job] or not trainers[ref_job]["replicaCount"]
    assert fwctl("plan", "-f", "ref", "--detailed-exitcode").returncode == 0

    # separate -> shared: the forward-only job is deleted
    (stack / "20-reference.yaml").write_text(reference)
    plan = fwctl.ok("plan", "-f", "ref").stdout
    assert "ReferenceTrainer/reference will be deleted" in plan and "shared session" in plan, plan
    fwctl.ok("apply", "-f", "ref", "--auto-approve")
    remaining = [t for t in local_plane.trainers() if t["state"] not in ("JOB_STATE_DELETED", "JOB_STATE_DELETING")]
    assert len(remaining) == 1 and not remaining[0].get("forwardOnly")
    assert fwctl("plan", "-f", "ref", "--detailed-exitcode").returncode == 0

    # a policy-trainer shape for the reference of a LoRA policy: rejected at plan time
    (stack / "20-reference.yaml").write_text(
        reference + "  trainingShape: accounts/fireworks/trainingShapes/qwen3-8b-128k-h200\n")
    result = fwctl("plan", "-f", "ref")
    assert result.returncode == 1 and "20-reference.yaml:" in result.stderr and "LORA_TRAINER" in result.stderr, \
        result.stderr
