"""field_diffs and the per-kind normalisation the planner applies before comparing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel

from reconciler.diff import FieldRule, FieldTable, field_diffs
from reconciler.model.plan import Action, FieldDiff
from reconciler.model.remote import DeploymentConfig, DeploymentInfo, TrainerConfig, TrainerJob
from reconciler.model.state import ResourceState, StateDocument

from .support import (
    ACCOUNT,
    DEP,
    DEPLOYMENT_SHAPE,
    JOB,
    POLICY_SHAPE,
    QWEN,
    actions,
    change,
    deployment_doc,
    make_plan,
    observed,
    stack_yaml,
    trainer_doc,
    write_manifests,
)

SHAPE = "accounts/fireworks/deploymentShapes/x"


def paths(diffs: tuple[FieldDiff, ...]) -> list[str]:
    return [d.path for d in diffs]


# --- field_diffs --------------------------------------------------------------------------------


def test_equal_views_have_no_diffs_and_numeric_types_do_not_matter() -> None:
    assert field_diffs({"a": 1, "b": "x"}, {"a": 1, "b": "x"}) == ()
    assert field_diffs({"learningRate": 1e-5, "count": 2}, {"learningRate": 0.00001, "count": 2.0}) == ()


def test_a_field_left_unset_is_the_platforms_choice_and_not_compared() -> None:
    assert field_diffs({"region": None, "a": 1}, {"region": "US_OHIO_1", "a": 1}) == ()
    # ... but a declared value the platform does not report is a difference.
    assert field_diffs({"region": "US_OHIO_1"}, {}) == (FieldDiff(path="region", before=None, after="US_OHIO_1",
                                                                  forces_replacement=True),)


def test_diffs_carry_before_after_and_whether_they_force_replacement() -> None:
    diffs = field_diffs({"replicas.max": 3, "baseModel": "b"}, {"replicas.max": 1, "baseModel": "a"},
                        in_place=frozenset({"replicas.max"}))
    assert diffs == (FieldDiff(path="replicas.max", before=1, after=3, forces_replacement=False),
                     FieldDiff(path="baseModel", before="a", after="b", forces_replacement=True))


def test_diffs_follow_the_desired_views_order() -> None:
    desired = {"z": 1, "a": 1, "m": 1}
    assert paths(field_diffs(desired, {"z": 0, "a": 0, "m": 0})) == ["z", "a", "m"]


def test_nested_paths_are_dotted_and_a_changed_map_is_one_diff_of_its_field() -> None:
    diffs = field_diffs({"replicas.min": 1, "replicas.max": 2, "annotations": {"a": "1", "b": "2"}},
                        {"replicas.min": 1, "replicas.max": 1, "annotations": {"a": "1", "b": "3", "c": "4"}})
    assert paths(diffs) == ["replicas.max", "annotations"]
    assert diffs[1].before == {"a": "1", "b": "3", "c": "4"} and diffs[1].after == {"a": "1", "b": "2"}


def test_a_parent_shape_matches_any_of_its_versions_but_a_pinned_version_must_match() -> None:
    versioned = frozenset({"shape"})
    assert field_diffs({"shape": SHAPE}, {"shape": f"{SHAPE}/versions/v7"}, versioned=versioned) == ()
    pinned = field_diffs({"shape": f"{SHAPE}/versions/v1"}, {"shape": f"{SHAPE}/versions/v7"}, versioned=versioned)
    assert [(d.path, d.before, d.after) for d in pinned] == [("shape", f"{SHAPE}/versions/v7", f"{SHAPE}/versions/v1")]
    other = field_diffs({"shape": SHAPE}, {"shape": "accounts/fireworks/deploymentShapes/y/versions/v1"},
                        versioned=versioned)
    # The before value is shown as the observed parent shape.
    assert [(d.path, d.before) for d in other] == [("shape", "accounts/fireworks/deploymentShapes/y")]
    # Without the versioned rule the version is a difference.
    assert paths(field_diffs({"shape": SHAPE}, {"shape": f"{SHAPE}/versions/v7"})) == ["shape"]


def test_ignored_paths_and_everything_under_them_are_not_compared() -> None:
    desired = {"replicas.min": 2, "replicas.max": 2, "replicasExtra": 2, "description": "d"}
    have = {"replicas.min": 1, "replicas.max": 1, "replicasExtra": 1, "description": "x"}
    assert paths(field_diffs(desired, have, ignore=["replicas"])) == ["replicasExtra", "description"]
    assert paths(field_diffs(desired, have, ignore=["replicas.max", "description"])) == ["replicas.min",
                                                                                        "replicasExtra"]


# --- a field table's views ------------------------------------------------------------------------


class Config(BaseModel):
    size: int
    shape: str | None = None
    note: str | None = None


TABLE = FieldTable(FieldRule("size", "replicas.max", in_place=True), FieldRule("shape", "shape", versioned=True),
                   FieldRule("note", "description", in_place=True))


def test_a_field_table_views_configs_by_manifest_path_and_diffs_with_its_rules() -> None:
    desired = TABLE.view(Config(size=2, shape=SHAPE))
    assert desired == {"replicas.max": 2, "shape": SHAPE, "description": None}
    assert TABLE.view(Config(size=2), without=("shape",)) == {"replicas.max": 2, "description": None}
    have = TABLE.view(Config(size=1, shape=f"{SHAPE}/versions/v3", note="by hand"))
    assert [(d.path, d.forces_replacement) for d in TABLE.diffs(desired, have)] == [("replicas.max", False)]
    assert TABLE.diffs(desired, have, ignore=("replicas.max",)) == ()
    assert TABLE.attr_of("replicas.max") == "size" and TABLE.attr_of("nope") is None


def test_drifted_lists_recorded_values_the_platform_no_longer_reports() -> None:
    recorded = {"replicas.max": 1, "shape": SHAPE, "description": None}
    now = {"replicas.max": 3, "shape": f"{SHAPE}/versions/v2", "description": "set by hand"}
    assert TABLE.drifted(recorded, now) == ["replicas.max: 1 -> 3"]
    assert TABLE.drifted(None, now) == []


# --- per-kind normalisation, through the planner --------------------------------------------------



def job(**config: Any) -> TrainerJob:
    values: dict[str, Any] = {"base_model": QWEN, "learning_rate": 1e-5, "display_name": "fwctl:s/policy",
                              "training_shape": f"{POLICY_SHAPE}/versions/v2", **config}
    return TrainerJob(job_id=JOB, name=f"accounts/{ACCOUNT}/rlorTrainerJobs/{JOB}", state="JOB_STATE_RUNNING",
                      config=TrainerConfig(**values))


def deployment(**config: Any) -> DeploymentInfo:
    values: dict[str, Any] = {
        "base_model": QWEN, "deployment_shape": f"{DEPLOYMENT_SHAPE}/versions/v3", "min_replicas": 1,
        "max_replicas": 1, "description": "fwctl s/rollout",
        "annotations": {"fwctl.dev/stack": "s", "fwctl.dev/address": "Deployment/rollout"}, **config}
    return DeploymentInfo(deployment_id=DEP, name=f"accounts/{ACCOUNT}/deployments/{DEP}", state="READY",
                          replica_count=1, config=DeploymentConfig(**values))


def prior() -> StateDocument:
    return StateDocument(stack="s", lineage="L", serial=3, resources={
        "Trainer/policy": ResourceState(kind="Trainer", name="policy", remote_id=JOB),
        "Deployment/rollout": ResourceState(kind="Deployment", name="rollout", remote_id=DEP)})


def plan_against(tmp_path: Path, trainer: TrainerJob, dep: DeploymentInfo, dep_extra: str = "",
                 trainer_extra: str = "") -> Any:
    m = write_manifests(tmp_path, stack_yaml(trainer_doc(extra=trainer_extra), deployment_doc(extra=dep_extra)))
    return make_plan(m, state=prior(), seen=observed([trainer], [dep]))


def test_what_the_platform_fills_in_is_not_a_change(tmp_path: Path) -> None:
    # A newer shape version, a context length and region the platform chose, a bucket type left to it.
    p = plan_against(tmp_path, job(max_context_length=131072, region="US_OHIO_1"), deployment(region="US_OHIO_1"))
    assert set(actions(p).values()) == {Action.NOOP}


def test_deployment_in_place_fields_update_and_the_rest_replace(tmp_path: Path) -> None:
    p = plan_against(tmp_path, job(), deployment(max_replicas=4, description="edited by hand"))
    c = change(p, "Deployment/rollout")
    assert c.action is Action.UPDATE
    assert [(d.path, d.before, d.after, d.forces_replacement) for d in c.diffs] == [
        ("replicas.max", 4, 1, False), ("description", "edited by hand", "fwctl s/rollout", False)]
    p = plan_against(tmp_path, job(), deployment(region="EU_ICELAND_1"), dep_extra="  region: US_OHIO_1\n")
    c = change(p, "Deployment/rollout")
    assert c.action is Action.REPLACE and c.replace_paths == ("region",)


def recorded(address: str, **applied: Any) -> StateDocument:
    """prior() with ``address`` recording ``applied`` as its last-applied view."""
    doc = prior()
    return doc.with_resource(address, doc.resources[address].model_copy(update={"applied": applied}))


def test_annotations_are_not_returned_so_they_compare_with_the_last_applied_map(tmp_path: Path) -> None:
    marks = {"fwctl.dev/stack": "s", "fwctl.dev/address": "Deployment/rollout"}
    m = write_manifests(tmp_path, stack_yaml(trainer_doc(), deployment_doc(extra="  annotations: {team: rl}\n")))
    seen = observed([job()], [deployment(annotations={})])  # the platform does not return annotations
    # the manifest's map against the one last applied: an in-place diff of the whole map
    c = change(make_plan(m, state=recorded("Deployment/rollout", annotations=marks), seen=seen), "Deployment/rollout")
    assert c.action is Action.UPDATE
    assert [(d.path, d.before, d.after) for d in c.diffs] == [("annotations", marks, {**marks, "team": "rl"})]
    # as last applied: no change, whatever the read shows (never compared with "absent")
    c = change(make_plan(m, state=recorded("Deployment/rollout", annotations={**marks, "team": "rl"}), seen=seen),
               "Deployment/rollout")
    assert c.action is Action.NOOP and c.diffs == ()
    # nothing recorded (a deployment fwctl did not apply): not compared, and the plan says so
    c = change(make_plan(m, state=prior(), seen=seen), "Deployment/rollout")
    assert c.action is Action.NOOP and any("not verified" in r and "annotations" in r for r in c.reasons)


def test_the_field_table_takes_unechoed_fields_from_the_record() -> None:
    table = FieldTable(FieldRule("size", "replicas.max"), FieldRule("note", "description", echoed=False))
    read = Config(size=2, note=None)  # the platform does not return the note
    assert table.observed(read, {"description": "mine"}) == {"replicas.max": 2, "description": "mine"}
    assert table.observed(read, {"description": None}) == {"replicas.max": 2, "description": None}
    assert table.observed(read, None) == {"replicas.max": 2}  # unverified: left out
    assert table.readable(read) == {"replicas.max": 2}
    desired = {"replicas.max": 2, "description": "mine"}
    assert table.diffs(desired, table.observed(read, None)) == ()
    assert table.unverified(desired, table.observed(read, None)) == ("description",)
    assert paths(table.diffs(desired, table.observed(read, {"description": None}))) == ["description"]
    assert table.drifted({"replicas.max": 2, "description": "mine"}, table.view(read)) == []


def test_ignore_changes_prefix_covers_nested_fields(tmp_path: Path) -> None:
    p = plan_against(tmp_path, job(), deployment(min_replicas=2, max_replicas=4),
                     dep_extra="  lifecycle: {ignoreChanges: [replicas]}\n")
    assert change(p, "Deployment/rollout").action is Action.NOOP
    p = plan_against(tmp_path, job(), deployment(min_replicas=2, max_replicas=4),
                     dep_extra="  lifecycle: {ignoreChanges: [replicas.max]}\n")
    assert paths(change(p, "Deployment/rollout").diffs) == ["replicas.min"]


def test_ignore_changes_on_a_trainer_avoids_its_replacement(tmp_path: Path) -> None:
    p = plan_against(tmp_path, job(learning_rate=3e-5), deployment())
    assert change(p, "Trainer/policy").action is Action.REPLACE
    p = plan_against(tmp_path, job(learning_rate=3e-5), deployment(),
                     trainer_extra="  lifecycle: {ignoreChanges: [learningRate]}\n")
    assert change(p, "Trainer/policy").action is Action.NOOP


def test_a_pinned_trainer_shape_version_is_compared_exactly(tmp_path: Path) -> None:
    # trainingShape is a create query parameter the platform never returns: the last-applied value counts
    text = trainer_doc().replace(POLICY_SHAPE, f"{POLICY_SHAPE}/versions/v1")
    m = write_manifests(tmp_path, stack_yaml(text, deployment_doc()))
    seen = observed([job(training_shape=None)], [deployment()])
    c = change(make_plan(m, state=recorded("Trainer/policy", trainingShape=POLICY_SHAPE), seen=seen), "Trainer/policy")
    assert c.action is Action.REPLACE and c.replace_paths == ("trainingShape",)
    assert [(d.before, d.after) for d in c.diffs] == [(POLICY_SHAPE, f"{POLICY_SHAPE}/versions/v1")]
    pinned = recorded("Trainer/policy", trainingShape=f"{POLICY_SHAPE}/versions/v1")
    assert change(make_plan(m, state=pinned, seen=seen), "Trainer/policy").action is Action.NOOP
