"""detect_drift: what changed on the platform since the last apply, and the state as it is now."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.drift import detect_drift
from reconciler.model.state import StateDocument

from .support import (
    FakeProvider,
    binding_doc,
    converge,
    deployment_doc,
    stack_yaml,
    state_backend,
    trainer_doc,
    write_manifests,
)


@pytest.fixture
def applied(tmp_path: Path) -> tuple[FakeProvider, StateDocument, str]:
    """A stack applied to a fake account: (the account, the state written, the trainer job id)."""
    m = write_manifests(tmp_path, stack_yaml(trainer_doc(), deployment_doc(), binding_doc()))
    fake, backend = FakeProvider(), state_backend(tmp_path)
    plan, result = converge(m, fake, backend)
    assert result.ok
    doc = backend.read()
    assert doc is not None
    return fake, doc, plan.changes[0].remote_id


def by_address(drifts: list) -> dict[str, list[str]]:  # type: ignore[type-arg]
    out: dict[str, list[str]] = {}
    for d in drifts:
        out.setdefault(d.address, []).append(d.message)
    return out


def test_no_drift_when_the_account_matches(applied: tuple[FakeProvider, StateDocument, str]) -> None:
    fake, prior, _ = applied
    # The platform reads shapes back as versions of the declared ones: that is not drift.
    assert fake.deployments["s-rollout"].config.deployment_shape.endswith("/versions/v1")  # type: ignore[union-attr]
    drifts, now = detect_drift(prior, fake.seen())
    assert drifts == []
    assert sorted(now.resources) == sorted(prior.resources)
    assert {a: r.remote_id for a, r in now.resources.items()} == {a: r.remote_id for a, r in prior.resources.items()}
    assert {a: r.outputs for a, r in now.resources.items()} == {a: r.outputs for a, r in prior.resources.items()}
    assert now.serial == prior.serial


def test_replicas_changed_by_hand_are_reported_and_recorded(applied: tuple[FakeProvider, StateDocument, str]) -> None:
    fake, prior, _ = applied
    fake.set_deployment("s-rollout", config={"max_replicas": 3})
    drifts, now = detect_drift(prior, fake.seen())
    assert by_address(drifts) == {"Deployment/rollout": ["replicas.max: 1 -> 3"]}
    dep = now.resources["Deployment/rollout"]
    assert dep.applied is not None and dep.applied["replicas.max"] == 3
    assert dep.outputs["replicas"] == {"min": 1, "max": 3}
    assert prior.resources["Deployment/rollout"].outputs["replicas"] == {"min": 1, "max": 1}  # input untouched


def test_a_deleted_trainer_is_reported_and_dropped_from_state(
        applied: tuple[FakeProvider, StateDocument, str]) -> None:
    fake, prior, job_id = applied
    del fake.trainers[job_id]
    drifts, now = detect_drift(prior, fake.seen())
    found = by_address(drifts)
    assert list(found) == ["Trainer/policy"]
    assert job_id in found["Trainer/policy"][0] and "gone" in found["Trainer/policy"][0]
    assert "Trainer/policy" not in now.resources
    assert set(now.resources) == set(prior.resources) - {"Trainer/policy"}


def test_a_tombstoned_trainer_and_a_deleted_deployment_are_both_dropped(
        applied: tuple[FakeProvider, StateDocument, str]) -> None:
    fake, prior, job_id = applied
    fake.set_trainer(job_id, state="JOB_STATE_DELETED")
    del fake.deployments["s-rollout"]
    drifts, now = detect_drift(prior, fake.seen())
    found = by_address(drifts)
    assert "JOB_STATE_DELETED" in found["Trainer/policy"][0]
    assert "s-rollout" in found["Deployment/rollout"][0]
    assert "Trainer/policy" not in now.resources and "Deployment/rollout" not in now.resources


def test_a_preempted_trainer_and_a_detached_deployment_are_drift(
        applied: tuple[FakeProvider, StateDocument, str]) -> None:
    fake, prior, job_id = applied
    fake.set_trainer(job_id, state="JOB_STATE_FAILED", status_message="preempted")
    fake.set_deployment("s-rollout", config={"hot_load_trainer_job": None})
    drifts, now = detect_drift(prior, fake.seen())
    found = by_address(drifts)
    assert found["Trainer/policy"] == ["state: JOB_STATE_RUNNING -> JOB_STATE_FAILED (preempted)"]
    assert any(m.startswith("attached trainer:") and m.endswith("-> None") for m in found["Deployment/rollout"])
    assert now.resources["Trainer/policy"].outputs["state"] == "JOB_STATE_FAILED"
