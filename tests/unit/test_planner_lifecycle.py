"""Planner: lifecycle from the manifests, preventDestroy, --target, --replace, removing a pin (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.model.plan import Action
from reconciler.model.remote import Checkpoint
from reconciler.planner import PlanError

from .support import (
    BINDING,
    JOB,
    actions,
    binding_doc,
    change,
    deployment_doc,
    make_plan,
    observed,
    stack_yaml,
    trainer_doc,
    write_manifests,
)
from .test_planner_cases import bound_state, deployment, job

PROTECTED = "  lifecycle: {preventDestroy: true}\n"


def bound(trainer_extra: str = "", binding_extra: str = "") -> str:
    return stack_yaml(trainer_doc(extra=trainer_extra), deployment_doc(), binding_doc(extra=binding_extra))


def test_a_lifecycle_added_in_the_manifests_is_a_state_only_update(tmp_path: Path) -> None:
    p = make_plan(write_manifests(tmp_path, bound(PROTECTED)), state=bound_state(),
                  seen=observed([job()], [deployment()]))
    c = change(p, "Trainer/policy")
    assert c.action is Action.UPDATE and c.remote_id == JOB
    assert [(d.path, d.before, d.after) for d in c.diffs] == [("lifecycle.preventDestroy", False, True)]
    assert "nothing changes on the platform" in c.reasons[0]


def test_destroy_follows_the_manifests_lifecycle_not_the_recorded_one(tmp_path: Path) -> None:
    seen = observed([job()], [deployment()])
    with pytest.raises(PlanError, match=r"Trainer/policy: spec.lifecycle.preventDestroy: is true, and this destroy"):
        make_plan(write_manifests(tmp_path, bound(PROTECTED)), state=bound_state(), seen=seen, destroy=True)
    recorded = bound_state()
    recorded = recorded.with_resource("Trainer/policy", recorded.resources["Trainer/policy"].model_copy(
        update={"lifecycle": {"preventDestroy": True}}))
    p = make_plan(write_manifests(tmp_path, bound()), state=recorded, seen=seen, destroy=True)
    assert actions(p)["Trainer/policy"] is Action.DELETE  # set back to false in the manifests: allowed


def test_prevent_destroy_refuses_a_replace_naming_the_field(tmp_path: Path) -> None:
    text = bound(PROTECTED).replace("learningRate: 1.0e-5", "learningRate: 2.0e-5")
    with pytest.raises(PlanError) as info:
        make_plan(write_manifests(tmp_path, text), state=bound_state(), seen=observed([job()], [deployment()]))
    assert "stack.yaml:" in str(info.value)
    assert "would replace it (learningRate forces replacement)" in str(info.value)


def test_prevent_destroy_applies_only_to_what_the_plan_destroys(tmp_path: Path) -> None:
    p = make_plan(write_manifests(tmp_path, bound(PROTECTED)), state=bound_state(),
                  seen=observed([job()], [deployment()]), destroy=True, targets=("Deployment/rollout",))
    # The deployment and what depends on it (its binding); not the protected trainer.
    assert set(actions(p)) == {"Deployment/rollout", BINDING}
    assert p.targets == ("Deployment/rollout",)


def test_a_removed_protected_resource_names_the_way_out(tmp_path: Path) -> None:
    recorded = bound_state()
    recorded = recorded.with_resource("Trainer/policy", recorded.resources["Trainer/policy"].model_copy(
        update={"lifecycle": {"preventDestroy": True}}))
    with pytest.raises(PlanError, match=r"no longer in the manifests.*fwctl state rm Trainer/policy"):
        make_plan(write_manifests(tmp_path, stack_yaml(deployment_doc())), state=recorded,
                  seen=observed([job()], [deployment()]))


def test_an_unknown_target_is_an_error_with_a_suggestion(tmp_path: Path) -> None:
    with pytest.raises(PlanError, match=r"--target Deployment/rollot: .*did you mean Deployment/rollout\?"):
        make_plan(write_manifests(tmp_path, bound()), targets=("Deployment/rollot",))


def test_destroy_target_takes_what_depends_on_it(tmp_path: Path) -> None:
    p = make_plan(write_manifests(tmp_path, bound()), state=bound_state(),
                  seen=observed([job()], [deployment()]), destroy=True, targets=("Trainer/policy",))
    assert actions(p) == {"Trainer/policy": Action.DELETE, BINDING: Action.DELETE}


def test_a_targeted_deployment_is_not_created_attached_to_a_trainer_left_out(tmp_path: Path) -> None:
    m = write_manifests(tmp_path, bound())
    p = make_plan(m, targets=("Deployment/rollout",))
    assert actions(p) == {"Deployment/rollout": Action.CREATE}
    assert change(p, "Deployment/rollout").settings["config"]["hot_load_trainer_job"] is None
    full = make_plan(m)
    assert change(full, "Deployment/rollout").settings["config"]["hot_load_trainer_job"]


def test_replace_forces_a_replacement_with_that_reason(tmp_path: Path) -> None:
    m = write_manifests(tmp_path, bound())
    seen = observed([job()], [deployment()])
    p = make_plan(m, state=bound_state(), seen=seen, replace=("Trainer/policy",))
    c = change(p, "Trainer/policy")
    assert c.action is Action.REPLACE and c.prior_remote_id == JOB and c.remote_id != JOB
    assert c.reasons[0] == "forced by --replace"
    assert actions(p)[BINDING] is Action.REATTACH
    p = make_plan(m, state=bound_state(), seen=seen, replace=("Deployment/rollout",))
    assert change(p, "Deployment/rollout").action is Action.REPLACE
    with pytest.raises(PlanError, match="--replace Trainer/polcy: .*did you mean Trainer/policy"):
        make_plan(m, state=bound_state(), seen=seen, replace=("Trainer/polcy",))


def test_removing_a_pin_is_recorded_without_touching_the_deployment(tmp_path: Path) -> None:
    state = bound_state()
    state = state.with_resource(BINDING, state.resources[BINDING].model_copy(update={
        "outputs": {**state.resources[BINDING].outputs, "snapshot": "step-1"}}))
    seen = observed([job()], [deployment()], checkpoints={JOB: [Checkpoint(name=f"accounts/acme/rlorTrainerJobs/{JOB}/checkpoints/step-1", snapshot="step-1")]})
    p = make_plan(write_manifests(tmp_path, bound()), state=state, seen=seen)
    c = change(p, BINDING)
    assert c.action is Action.UPDATE
    assert [(d.path, d.before, d.after) for d in c.diffs] == [("snapshot", "step-1", None)]
    assert "keeps serving step-1" in c.reasons[0]
    assert actions(p)["Deployment/rollout"] is Action.NOOP

