"""The planner is pure: desired + prior state + observed -> Plan. No server needed."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.manifest import load_manifests
from reconciler.model.plan import Action
from reconciler.model.remote import DeploymentConfig, DeploymentInfo, Observed, TrainerConfig, TrainerJob
from reconciler.model.state import ResourceState, StateDocument
from reconciler.planner import PlanError, PlanRequest, plan_changes

ACCOUNT = "acme"
STACK = """
apiVersion: fwctl/v1
kind: Stack
metadata: {name: s}
---
apiVersion: fwctl/v1
kind: Trainer
metadata: {name: policy}
spec:
  baseModel: accounts/fireworks/models/qwen3-8b
  trainingShape: accounts/fireworks/trainingShapes/qwen3-8b-128k-h200
  learningRate: 1.0e-5
---
apiVersion: fwctl/v1
kind: Deployment
metadata: {name: rollout}
spec:
  baseModel: accounts/fireworks/models/qwen3-8b
  deploymentShape: accounts/fireworks/deploymentShapes/rft-qwen3-8b
  replicas: {min: 1, max: 1}
  LIFECYCLE
"""
JOB = "s-policy-abc123"
DEP = "s-rollout"


def manifests(tmp_path: Path, text: str = STACK, lifecycle: str = "") -> object:
    path = tmp_path / "stack.yaml"
    path.write_text(text.replace("LIFECYCLE", lifecycle))
    return load_manifests([str(path)])


def job(state: str = "JOB_STATE_RUNNING", **config: object) -> TrainerJob:
    values = {"base_model": "accounts/fireworks/models/qwen3-8b", "learning_rate": 1e-5,
              "training_shape": "accounts/fireworks/trainingShapes/qwen3-8b-128k-h200/versions/v2",
              "display_name": "fwctl:s/policy", **config}
    return TrainerJob(job_id=JOB, name=f"accounts/{ACCOUNT}/rlorTrainerJobs/{JOB}", state=state,
                      config=TrainerConfig(**values))  # type: ignore[arg-type]


def deployment(min_r: int = 1, max_r: int = 1, state: str = "READY") -> DeploymentInfo:
    return DeploymentInfo(
        deployment_id=DEP, name=f"accounts/{ACCOUNT}/deployments/{DEP}", state=state,
        config=DeploymentConfig(
            base_model="accounts/fireworks/models/qwen3-8b",
            deployment_shape="accounts/fireworks/deploymentShapes/rft-qwen3-8b/versions/v3",
            min_replicas=min_r, max_replicas=max_r, description="fwctl s/rollout",
            annotations={"fwctl.dev/stack": "s", "fwctl.dev/address": "Deployment/rollout"},
        ),
    )


def prior(**extra: ResourceState) -> StateDocument:
    resources = {
        "Trainer/policy": ResourceState(kind="Trainer", name="policy", remote_id=JOB),
        "Deployment/rollout": ResourceState(kind="Deployment", name="rollout", remote_id=DEP),
        **extra,
    }
    return StateDocument(stack="s", lineage="L", serial=3, resources=resources)


def plan(m, state=None, trainers=None, deployments=None, destroy=False):  # type: ignore[no-untyped-def]
    observed = Observed(account=ACCOUNT, trainers=trainers or {}, deployments=deployments or {})
    return plan_changes(PlanRequest(stack="s", endpoint="local", observed=observed, prior=state,
                                    resources=m.resources, destroy=destroy, id_seed="L", locate=m.locate))


def actions(p) -> dict[str, Action]:  # type: ignore[no-untyped-def]
    return {c.address: c.action for c in p.changes}


def test_fresh_stack_creates_everything_with_deterministic_ids(tmp_path: Path) -> None:
    m = manifests(tmp_path)
    first, second = plan(m), plan(m)
    assert actions(first) == {"Trainer/policy": Action.CREATE, "Deployment/rollout": Action.CREATE}
    assert [c.remote_id for c in first.changes] == [c.remote_id for c in second.changes]
    assert first.changes[0].remote_id.startswith("s-policy-")


def test_matching_account_is_a_no_op_and_a_newer_shape_version_is_not_a_change(tmp_path: Path) -> None:
    p = plan(manifests(tmp_path), prior(), {JOB: job()}, {DEP: deployment()})
    assert not p.has_changes


def test_changed_learning_rate_replaces_the_trainer_naming_the_field(tmp_path: Path) -> None:
    p = plan(manifests(tmp_path), prior(), {JOB: job(learning_rate=3e-5)}, {DEP: deployment()})
    change = p.changes[0]
    assert change.action is Action.REPLACE and change.replace_paths == ("learningRate",)
    assert change.prior_remote_id == JOB and change.remote_id != JOB


def test_replicas_change_updates_in_place(tmp_path: Path) -> None:
    p = plan(manifests(tmp_path), prior(), {JOB: job()}, {DEP: deployment(max_r=3)})
    change = next(c for c in p.changes if c.address == "Deployment/rollout")
    assert change.action is Action.UPDATE
    assert [(d.path, d.before, d.after, d.forces_replacement) for d in change.diffs] == [
        ("replicas.max", 3, 1, False)]


def test_ignore_changes_are_not_diffed(tmp_path: Path) -> None:
    m = manifests(tmp_path, lifecycle="lifecycle: {ignoreChanges: [replicas.max]}")
    assert not plan(m, prior(), {JOB: job()}, {DEP: deployment(max_r=3)}).has_changes


@pytest.mark.parametrize("state", ["JOB_STATE_FAILED", "JOB_STATE_PAUSED", "JOB_STATE_CANCELLED"])
def test_stopped_trainer_is_resumed_with_its_reason(tmp_path: Path, state: str) -> None:
    p = plan(manifests(tmp_path), prior(), {JOB: job(state)}, {DEP: deployment()})
    change = p.changes[0]
    assert change.action is Action.RESUME and state in change.reasons[0]


def test_trainer_deleted_out_of_band_is_created_under_a_new_id(tmp_path: Path) -> None:
    p = plan(manifests(tmp_path), prior(), {JOB: job("JOB_STATE_DELETED")}, {DEP: deployment()})
    change = p.changes[0]
    assert change.action is Action.CREATE and change.remote_id != JOB and "out of band" in change.reasons[0]


def test_removed_deployment_is_scaled_to_zero_and_readded_is_scaled_up(tmp_path: Path) -> None:
    only_trainer = STACK.split("---\napiVersion: fwctl/v1\nkind: Deployment")[0]
    state = prior()
    state = state.with_resource("Deployment/rollout", state.resources["Deployment/rollout"].model_copy(
        update={"lifecycle": {"onDestroy": "scaleToZero"}}))
    p = plan(manifests(tmp_path, only_trainer), state, {JOB: job()}, {DEP: deployment()})
    assert actions(p)["Deployment/rollout"] is Action.SCALE_TO_ZERO
    parked = state.with_resource("Deployment/rollout", state.resources["Deployment/rollout"].model_copy(
        update={"status": "parked"}))
    p = plan(manifests(tmp_path), parked, {JOB: job()}, {DEP: deployment(0, 0)})
    assert actions(p)["Deployment/rollout"] is Action.SCALE_UP


def test_prevent_destroy_turns_the_plan_into_an_error(tmp_path: Path) -> None:
    # The manifests govern when they are given; a destroy without them uses what the state recorded.
    m = manifests(tmp_path, lifecycle="lifecycle: {preventDestroy: true}")
    with pytest.raises(PlanError, match="Deployment/rollout: spec.lifecycle.preventDestroy: is true"):
        plan(m, prior(), {JOB: job()}, {DEP: deployment()}, destroy=True)
    state = prior()
    state = state.with_resource("Trainer/policy", state.resources["Trainer/policy"].model_copy(
        update={"lifecycle": {"onDestroy": "delete", "preventDestroy": True}}))
    assert actions(plan(manifests(tmp_path), state, {JOB: job()}, {DEP: deployment()}, destroy=True))[
        "Trainer/policy"] is Action.DELETE
    with pytest.raises(PlanError, match="Trainer/policy.*preventDestroy"):
        plan(manifests(tmp_path, STACK.split("---")[0]), state, {JOB: job()}, {DEP: deployment()}, destroy=True)


def test_destroy_deletes_trainers_and_retain_forgets(tmp_path: Path) -> None:
    m = manifests(tmp_path, lifecycle="lifecycle: {onDestroy: retain}")
    p = plan(m, prior(), {JOB: job()}, {DEP: deployment()}, destroy=True)
    assert actions(p) == {"Trainer/policy": Action.DELETE, "Deployment/rollout": Action.FORGET}


def test_adopted_job_that_differs_is_a_located_error(tmp_path: Path) -> None:
    text = STACK.replace("  learningRate: 1.0e-5", f"  learningRate: 1.0e-5\n  jobId: {JOB}")
    with pytest.raises(PlanError) as info:
        plan(manifests(tmp_path, text), None, {JOB: job(learning_rate=9e-5)}, {DEP: deployment()})
    message = str(info.value)
    assert "stack.yaml:" in message and "Trainer/policy: spec.learningRate" in message


def test_binding_to_a_trainer_of_another_base_model_is_refused(tmp_path: Path) -> None:
    text = STACK.replace("LIFECYCLE", "") + """---
apiVersion: fwctl/v1
kind: Trainer
metadata: {name: llama}
spec:
  baseModel: accounts/fireworks/models/llama-v3p1-8b-instruct
---
apiVersion: fwctl/v1
kind: SyncBinding
metadata: {name: wrong}
spec: {trainer: llama, deployment: rollout}
"""
    with pytest.raises(PlanError, match=r"stack.yaml:\d+:\d+: SyncBinding/wrong: spec.trainer: .*llama.*qwen3-8b"):
        plan(manifests(tmp_path, text))
