"""survey_orphans: what fwctl created for a stack that no state references (leaked GPU spend)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from reconciler.model.remote import DeploymentConfig, DeploymentInfo, TrainerConfig, TrainerJob
from reconciler.model.state import PendingOperation, ResourceState, StateDocument
from reconciler.orphans import survey_orphans

from .support import (
    ACCOUNT,
    CREATED_AT,
    QWEN,
    FakeProvider,
    converge,
    stack_yaml,
    state_backend,
    write_manifests,
)

NOW = CREATED_AT + timedelta(hours=5)


def job(job_id: str, display: str | None, *, state: str = "JOB_STATE_RUNNING", hours: float = 5.0,
        accelerator: str | None = "NVIDIA_H200_141GB", count: int | None = 8) -> TrainerJob:
    return TrainerJob(job_id=job_id, name=f"accounts/{ACCOUNT}/rlorTrainerJobs/{job_id}", state=state,
                      create_time=NOW - timedelta(hours=hours),
                      config=TrainerConfig(base_model=QWEN, display_name=display, accelerator_type=accelerator,
                                           accelerator_count=count))


def deployment(dep_id: str, annotations: dict[str, str], *, hours: float = 2.0, replicas: int = 1,
               **config: Any) -> DeploymentInfo:
    return DeploymentInfo(deployment_id=dep_id, name=f"accounts/{ACCOUNT}/deployments/{dep_id}", state="READY",
                          replica_count=replicas, create_time=NOW - timedelta(hours=hours),
                          config=DeploymentConfig(base_model=QWEN, accelerator_type="NVIDIA_H100_80GB",
                                                  accelerator_count=2, annotations=annotations, **config))


def state(*remote_ids: str, pending: str | None = None) -> StateDocument:
    resources = {f"Trainer/r{i}": ResourceState(kind="Trainer", name=f"r{i}", remote_id=rid)
                 for i, rid in enumerate(remote_ids)}
    if pending:
        resources["Trainer/p"] = ResourceState(kind="Trainer", name="p", pending=PendingOperation(
            operation="create", remote_id=pending))
    return StateDocument(stack="s", lineage="L", serial=2, resources=resources)


OURS = {"fwctl.dev/stack": "s", "fwctl.dev/address": "Deployment/old"}


def test_marked_resources_absent_from_state_are_orphans_with_age_and_cost() -> None:
    found = survey_orphans("s", state(), [job("any-id", "fwctl:s/old")], [deployment("s-old", OURS)], now=NOW).orphans
    by_id = {o.remote_id: o for o in found}
    assert set(by_id) == {"any-id", "s-old"}
    trainer, dep = by_id["any-id"], by_id["s-old"]
    assert (trainer.kind, trainer.name, trainer.state) == ("trainer", f"accounts/{ACCOUNT}/rlorTrainerJobs/any-id",
                                                           "JOB_STATE_RUNNING")
    assert trainer.age_hours == pytest.approx(5.0) and trainer.hourly_usd > 0
    assert trainer.accelerators == "NVIDIA_H200_141GB x8"
    assert trainer.spent_usd == pytest.approx(trainer.hourly_usd * 5.0)
    assert dep.kind == "deployment" and dep.age_hours == pytest.approx(2.0) and dep.hourly_usd > 0
    assert dep.accelerators == "NVIDIA_H100_80GB x2"
    assert [o.remote_id for o in found] == sorted(by_id, key=lambda r: -by_id[r].spent_usd)  # costliest first


def test_a_job_id_of_the_stacks_pattern_is_ours_even_without_the_display_name() -> None:
    found = survey_orphans("s", None, [job("s-policy-0a1b2c", "renamed by hand")], [], now=NOW).orphans
    assert [o.remote_id for o in found] == ["s-policy-0a1b2c"]


def test_resources_in_state_or_pending_in_state_are_not_orphans() -> None:
    trainers = [job("s-policy-0a1b2c", "fwctl:s/policy"), job("s-next-ffffff", "fwctl:s/next")]
    found = survey_orphans("s", state("s-policy-0a1b2c", "s-rollout", pending="s-next-ffffff"), trainers,
                         [deployment("s-rollout", OURS)], now=NOW).orphans
    assert found == []


def test_another_stacks_and_unmarked_resources_are_not_orphans() -> None:
    trainers = [job("t-policy-0a1b2c", "fwctl:t/policy"), job("handmade", "my experiment"), job("plain", None)]
    deployments = [deployment("t-rollout", {"fwctl.dev/stack": "t"}), deployment("manual", {}),
                   deployment("tagged", {"team": "rl"})]
    assert survey_orphans("s", None, trainers, deployments, now=NOW).orphans == []


def test_deleted_jobs_are_not_orphans_and_stopped_ones_cost_nothing() -> None:
    trainers = [job("s-a-aaaaaa", "fwctl:s/a", state="JOB_STATE_DELETED"),
                job("s-b-bbbbbb", "fwctl:s/b", state="JOB_STATE_PAUSED")]
    found = survey_orphans("s", None, trainers, [], now=NOW).orphans
    assert [(o.remote_id, o.hourly_usd) for o in found] == [("s-b-bbbbbb", 0.0)]


def test_resources_whose_state_was_lost_after_an_apply_are_found(tmp_path: Path) -> None:
    text = stack_yaml(
        "apiVersion: fwctl/v1\nkind: Trainer\nmetadata: {name: sft}\nspec:\n"
        f"  baseModel: {QWEN}\n  accelerator: {{type: NVIDIA_A100_80GB, count: 4}}\n",
        "apiVersion: fwctl/v1\nkind: Deployment\nmetadata: {name: serve}\nspec:\n"
        f"  baseModel: {QWEN}\n  accelerator: {{type: NVIDIA_H100_80GB, count: 1}}\n  acceptShapelessRisk: true\n")
    fake, backend = FakeProvider(), state_backend(tmp_path)
    plan, result = converge(write_manifests(tmp_path, text), fake, backend)
    assert result.ok
    doc = backend.read()
    assert doc is not None
    trainers, deployments = list(fake.trainers.values()), list(fake.deployments.values())
    later = CREATED_AT + timedelta(hours=3)
    assert survey_orphans("s", doc, trainers, deployments, now=later).orphans == []
    lost = doc.with_resource("Trainer/sft", None).with_resource("Deployment/serve", None)
    found = {o.remote_id: o for o in survey_orphans("s", lost, trainers, deployments, now=later).orphans}
    assert set(found) == {plan.changes[0].remote_id, "s-serve"}
    assert all(o.age_hours == pytest.approx(3.0) and o.spent_usd > 0 for o in found.values())
