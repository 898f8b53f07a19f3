"""classify / failing: live health per resource from the declared stack, the state and a fresh read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reconciler.manifest import Manifests
from reconciler.model.health import Health
from reconciler.model.remote import DeploymentConfig, DeploymentInfo, TrainerConfig, TrainerJob
from reconciler.model.state import ResourceState, StateDocument
from reconciler.status import classify, failing

from .support import (
    ACCOUNT,
    BINDING,
    DEP,
    DEPLOYMENT_SHAPE,
    JOB,
    POLICY_SHAPE,
    QWEN,
    binding_doc,
    deployment_doc,
    observed,
    reference_doc,
    stack_yaml,
    trainer_doc,
    write_manifests,
)


def job(state: str = "JOB_STATE_RUNNING", message: str = "", **config: Any) -> TrainerJob:
    return TrainerJob(job_id=JOB, name=f"accounts/{ACCOUNT}/rlorTrainerJobs/{JOB}", state=state,
                      status_message=message, config=TrainerConfig(base_model=QWEN, training_shape=POLICY_SHAPE,
                                                                   **config))


def deployment(state: str = "READY", replicas: int = 1, min_r: int = 1, max_r: int = 1,
               attached: str | None = f"accounts/{ACCOUNT}/rlorTrainerJobs/{JOB}") -> DeploymentInfo:
    return DeploymentInfo(
        deployment_id=DEP, name=f"accounts/{ACCOUNT}/deployments/{DEP}", state=state, replica_count=replicas,
        config=DeploymentConfig(base_model=QWEN, deployment_shape=DEPLOYMENT_SHAPE, min_replicas=min_r,
                                max_replicas=max_r, hot_load_trainer_job=attached))


def state(**resources: ResourceState) -> StateDocument:
    held = {
        "Trainer/policy": ResourceState(kind="Trainer", name="policy", remote_id=JOB),
        "Deployment/rollout": ResourceState(kind="Deployment", name="rollout", remote_id=DEP),
        BINDING: ResourceState(kind="SyncBinding", name="policy-to-rollout", remote_id=DEP),
    }
    held.update({k.replace("__", "/"): v for k, v in resources.items()})
    return StateDocument(stack="s", lineage="L", serial=4, resources=held)


@pytest.fixture
def stack(tmp_path: Path) -> Manifests:
    return write_manifests(tmp_path, stack_yaml(trainer_doc(), deployment_doc(), binding_doc()))


def health(m: Manifests, doc: StateDocument | None, trainers: list[TrainerJob], deployments: list[DeploymentInfo],
           probes: dict[str, str | None] | None = None) -> dict[str, tuple[Health, str]]:
    results = classify("s", m.resources, doc, observed(trainers, deployments), {JOB: None} if probes is None else probes)
    return {r.address: (r.health, r.reason) for r in results}


def test_everything_running_attached_and_probed_is_healthy(stack: Manifests) -> None:
    results = classify("s", stack.resources, state(), observed([job()], [deployment()]), {JOB: None})
    assert [(r.address, r.health, r.remote_id) for r in results] == [
        ("Trainer/policy", Health.HEALTHY, JOB), ("Deployment/rollout", Health.HEALTHY, DEP),
        (BINDING, Health.HEALTHY, DEP)]
    assert not failing(results)


@pytest.mark.parametrize(("trainer", "probes", "expected", "says"), [
    (job(), {}, Health.PROGRESSING, "not probed"),
    (job(), {JOB: "the gateway healthz does not answer"}, Health.DEGRADED, "healthz does not answer"),
    (job("JOB_STATE_CREATING"), None, Health.PROGRESSING, "CREATING"),
    (job("JOB_STATE_PENDING"), None, Health.PROGRESSING, "PENDING"),
    (job("JOB_STATE_PAUSED"), None, Health.SUSPENDED, "PAUSED"),
    (job("JOB_STATE_FAILED", "preempted"), None, Health.DEGRADED, "preempted"),
    (job("JOB_STATE_CANCELLED"), None, Health.DEGRADED, "resumes it"),
    (job("JOB_STATE_DELETED"), None, Health.MISSING, "DELETED"),
])
def test_trainer_health(stack: Manifests, trainer: TrainerJob, probes: dict[str, str | None] | None,
                        expected: Health, says: str) -> None:
    found = health(stack, state(), [trainer], [deployment()], probes)["Trainer/policy"]
    assert found[0] is expected and says in found[1]


def test_a_trainer_not_on_the_platform_or_never_applied_is_missing(stack: Manifests) -> None:
    assert health(stack, state(), [], [deployment()])["Trainer/policy"][0] is Health.MISSING
    never = health(stack, None, [], [])
    assert never["Trainer/policy"] == (Health.MISSING, "no trainer job yet (run fwctl apply)")
    assert never["Deployment/rollout"][0] is Health.MISSING


@pytest.mark.parametrize(("dep", "expected", "says"), [
    (deployment(), Health.HEALTHY, "READY"),
    (deployment("CREATING", replicas=0), Health.PROGRESSING, "CREATING"),
    (deployment("UPDATING"), Health.PROGRESSING, "UPDATING"),
    (deployment(replicas=0), Health.PROGRESSING, "scaling"),
    (deployment(replicas=0, min_r=0, max_r=0), Health.SUSPENDED, "scaled to zero"),
    (deployment("FAILED"), Health.DEGRADED, "FAILED"),
    (deployment("DELETED"), Health.MISSING, "DELETED"),
])
def test_deployment_health(stack: Manifests, dep: DeploymentInfo, expected: Health, says: str) -> None:
    found = health(stack, state(), [job()], [dep])["Deployment/rollout"]
    assert found[0] is expected and says in found[1]


def test_a_recorded_deployment_not_found_is_missing(stack: Manifests) -> None:
    assert health(stack, state(), [job()], [])["Deployment/rollout"] == (Health.MISSING,
                                                                        f"deployment {DEP} not found")


@pytest.mark.parametrize(("trainers", "dep", "expected", "says"), [
    ([job()], deployment(attached="accounts/acme/rlorTrainerJobs/other-job"), Health.DEGRADED, "other-job"),
    ([job()], deployment(attached=None), Health.DEGRADED, "no trainer"),
    ([job()], deployment("UPDATING", attached=None), Health.PROGRESSING, "UPDATING towards"),
    ([job()], deployment(replicas=0, min_r=0, max_r=0), Health.SUSPENDED, "scaled to zero"),
    ([job()], None, Health.MISSING, "does not exist"),
    ([], deployment(), Health.MISSING, "no live job"),
])
def test_binding_health(stack: Manifests, trainers: list[TrainerJob], dep: DeploymentInfo | None,
                        expected: Health, says: str) -> None:
    found = health(stack, state(), trainers, [dep] if dep else [])[BINDING]
    assert found[0] is expected and says in found[1]


def test_a_binding_in_state_but_no_longer_declared_is_missing(tmp_path: Path) -> None:
    m = write_manifests(tmp_path, stack_yaml(trainer_doc(), deployment_doc()))
    assert health(m, state(), [job()], [deployment()])[BINDING][0] is Health.MISSING


def test_a_shared_reference_mirrors_its_policy(tmp_path: Path) -> None:
    m = write_manifests(tmp_path, stack_yaml(trainer_doc(extra="  loraRank: 16\n"), reference_doc()))
    doc = state(ReferenceTrainer__reference=ResourceState(kind="ReferenceTrainer", name="reference",
                                                          outputs={"shared_with": "Trainer/policy"}))
    healthy = health(m, doc, [job(lora_rank=16)], [])
    assert healthy["ReferenceTrainer/reference"][0] is Health.HEALTHY
    assert "shared with Trainer/policy" in healthy["ReferenceTrainer/reference"][1]
    paused = health(m, doc, [job("JOB_STATE_PAUSED", lora_rank=16)], [])
    assert paused["ReferenceTrainer/reference"][0] is Health.SUSPENDED


@pytest.mark.parametrize(("level", "is_failing"), [
    (Health.HEALTHY, False), (Health.PROGRESSING, False), (Health.SUSPENDED, False),
    (Health.DEGRADED, True), (Health.MISSING, True)])
def test_failing_is_true_for_degraded_and_missing_only(stack: Manifests, level: Health, is_failing: bool) -> None:
    cases = {
        Health.HEALTHY: (job(), deployment()),
        Health.PROGRESSING: (job("JOB_STATE_CREATING"), deployment("CREATING", replicas=0)),
        Health.SUSPENDED: (job("JOB_STATE_PAUSED"), deployment(replicas=0, min_r=0, max_r=0)),
        Health.DEGRADED: (job("JOB_STATE_FAILED"), deployment("FAILED")),
        Health.MISSING: (None, None),
    }
    trainer, dep = cases[level]
    results = classify("s", stack.resources, state(), observed([trainer] if trainer else [], [dep] if dep else []),
                       {JOB: None})
    levels = {r.health for r in results}
    assert level in levels and not (levels & {Health.DEGRADED, Health.MISSING} - {level})
    assert failing(results) is is_failing
    assert failing([]) is False
