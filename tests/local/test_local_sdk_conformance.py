"""The official fireworks-ai training SDK, unchanged, against `fwctl local serve` on 127.0.0.1.

Only the SDK's sleeps are shortened (its `time` module is swapped in the `fast_sdk` fixture);
every request and every decision is the SDK's own.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from fireworks.training.sdk import DeploymentConfig, DeploymentManager, TrainerJobConfig, TrainerJobManager

from tests.local.conftest import (
    ACCOUNT,
    DEPLOY_SHAPE,
    KEY,
    POLICY_SHAPE,
    QWEN8B,
    LocalServer,
    inspect,
    snapshot,
    wait_state,
)

pytestmark = pytest.mark.usefixtures("fast_sdk")
POLL = 0.02


def _trainers(server: LocalServer) -> TrainerJobManager:
    return TrainerJobManager(api_key=KEY, base_url=server.url)


def _deployments(server: LocalServer) -> DeploymentManager:
    return DeploymentManager(api_key=KEY, base_url=server.url)


def test_resolve_training_profile(server: LocalServer) -> None:
    mgr = _trainers(server)
    profile = mgr.resolve_training_profile(POLICY_SHAPE)
    assert profile.training_shape_version == f"{POLICY_SHAPE}/versions/h7wd3p0s"  # r2mz6t9e is newer but not validated
    assert profile.training_shape == POLICY_SHAPE
    assert profile.deployment_shape_version == f"{DEPLOY_SHAPE}/versions/s6y1k9pb"
    assert profile.accelerator_type == "NVIDIA_H200_141GB"
    assert profile.accelerator_count == 8
    assert profile.max_supported_context_length == 131072
    assert profile.trainer_mode == "POLICY_TRAINER"
    pinned = mgr.resolve_training_profile(f"{POLICY_SHAPE}/versions/c4n8xq2k")
    assert pinned.training_shape_version == f"{POLICY_SHAPE}/versions/c4n8xq2k"
    lora = mgr.resolve_training_profile("accounts/fireworks/trainingShapes/qwen3-8b-128k-lora")
    assert lora.trainer_mode == "LORA_TRAINER"
    with pytest.raises(RuntimeError):
        mgr.resolve_training_profile("accounts/fireworks/trainingShapes/no-such-shape")


def test_trainer_lifecycle(server: LocalServer, api: httpx.Client, uid: Callable[[str], str]) -> None:
    mgr = _trainers(server)
    job = uid("sdk-trainer")
    config = TrainerJobConfig(base_model=QWEN8B, training_shape_ref=POLICY_SHAPE, requested_job_id=job)
    endpoint = mgr.create_and_wait(config, poll_interval_s=POLL)
    assert endpoint.job_id == job
    assert endpoint.job_name == f"accounts/{ACCOUNT}/rlorTrainerJobs/{job}"
    assert endpoint.base_url == f"{server.url}/training/v1/rlorTrainerJobs/{ACCOUNT}/{job}"
    assert endpoint.max_context_length == 131072
    assert "trainingShape" not in mgr.get(job)  # a create query parameter: the platform never echoes it
    assert inspect(api, f"/v1/accounts/{ACCOUNT}/rlorTrainerJobs/{job}")["trainingShape"] == (
        f"{POLICY_SHAPE}/versions/h7wd3p0s")

    # a retried create with the same id is idempotent (409 -> GET -> the existing job)
    again = mgr.create(config)
    assert again.job_id == job
    assert mgr.wait_for_existing(job, poll_interval_s=POLL).job_id == job

    # preemption: FAILED with a status message, then reconnect resumes it
    resp = api.post("/_local/v1/faults", json={"kind": "preempt", "trainer": job})
    assert resp.status_code == 200, resp.text
    failed = mgr.get(job)
    assert failed["state"] == "JOB_STATE_FAILED"
    assert "preempted" in failed["status"]["message"]
    with pytest.raises(RuntimeError):
        mgr.wait_for_existing(job, poll_interval_s=POLL)
    assert mgr.reconnect_and_wait(job, poll_interval_s=POLL).job_id == job
    assert mgr.get(job)["state"] == "JOB_STATE_RUNNING"

    # a cancelled job resumes too
    assert api.post(f"/v1/accounts/{ACCOUNT}/rlorTrainerJobs/{job}:cancel").status_code == 200
    assert mgr.get(job)["state"] == "JOB_STATE_CANCELLED"
    assert mgr.resume_and_wait(job, poll_interval_s=POLL).job_id == job

    # delete: DELETING, then a tombstone whose id cannot be reused
    mgr.delete(job)
    wait_state(api, f"/v1/accounts/{ACCOUNT}/rlorTrainerJobs/{job}", "JOB_STATE_DELETED")
    with pytest.raises(RuntimeError, match="cannot be recreated"):
        mgr.create(config)


def test_trainer_auto_select_and_forward_only(
    server: LocalServer, api: httpx.Client, uid: Callable[[str], str]
) -> None:
    mgr = _trainers(server)
    policy = mgr.create(TrainerJobConfig(base_model=QWEN8B, lora_rank=16, auto_select_training_shape=True))
    assert inspect(api, f"/v1/accounts/{ACCOUNT}/rlorTrainerJobs/{policy.job_id}")["trainingShape"].startswith(
        "accounts/fireworks/trainingShapes/qwen3-8b-128k-lora/"
    )
    reference = mgr.create_and_wait(
        TrainerJobConfig(
            base_model=QWEN8B,
            training_shape_ref="accounts/fireworks/trainingShapes/qwen3-8b-128k-h200-forward",
            forward_only=True,
            requested_job_id=uid("sdk-ref"),
        ),
        poll_interval_s=POLL,
    )
    job = mgr.get(reference.job_id)
    assert job["forwardOnly"] is True
    record = inspect(api, f"/v1/accounts/{ACCOUNT}/rlorTrainerJobs/{reference.job_id}")
    assert record["trainingConfig"]["acceleratorCount"] == 4
    for created in (policy.job_id, reference.job_id):
        mgr.delete(created)


def test_deployment_lifecycle(server: LocalServer, api: httpx.Client, uid: Callable[[str], str]) -> None:
    trainers = _trainers(server)
    deployments = _deployments(server)
    profile = trainers.resolve_training_profile(POLICY_SHAPE)
    first = trainers.create_and_wait(
        TrainerJobConfig(base_model=QWEN8B, training_shape_ref=POLICY_SHAPE, requested_job_id=uid("sdk-pol")),
        poll_interval_s=POLL,
    )
    second = trainers.create_and_wait(
        TrainerJobConfig(base_model=QWEN8B, training_shape_ref=POLICY_SHAPE, requested_job_id=uid("sdk-pol")),
        poll_interval_s=POLL,
    )
    dep = uid("sdk-dep")
    config = DeploymentConfig.from_training_profile(
        deployment_id=dep,
        base_model=QWEN8B,
        profile=profile,
        hot_load_trainer_job=first.job_name,
        min_replica_count=1,
        max_replica_count=1,
        for_training=True,
    )
    created = deployments.create_or_get(config)
    assert created.state == "CREATING"
    assert created.deployment_shape_version == f"{DEPLOY_SHAPE}/versions/s6y1k9pb"
    assert created.hot_load_trainer_job == first.job_name
    assert deployments.create_or_get(config).name == created.name  # exists -> returned as is
    ready = deployments.wait_for_ready(dep, poll_interval_s=POLL)
    assert ready.state == "READY"
    assert ready.inference_model == f"accounts/{ACCOUNT}/deployments/{dep}"

    # hot load a snapshot the attached trainer saved
    identity = snapshot(api, first.job_id, "step-00010")
    assert deployments.hotload_and_wait(dep, QWEN8B, identity, timeout_seconds=30)
    status = deployments.hotload_check_status(dep, QWEN8B)
    assert [r["current_snapshot_identity"] for r in status["replicas"]] == [identity]
    assert status["replicas"][0]["readiness"] is True

    updated = deployments.update(dep, {"description": "policy rollouts"}, ["description"])
    assert updated.name == created.name
    assert deployments._get_deployment(dep)["description"] == "policy rollouts"  # noqa: SLF001

    # re-point the deployment at the second trainer (and switch to SYNC) in one PATCH
    info = deployments.reattach_trainer(
        dep,
        base_model=QWEN8B,
        trainer_job_name=second.job_name,
        timeout_s=30,
        poll_interval_s=POLL,
        hot_load_transition_type="SYNC",
    )
    assert info.state == "READY"
    assert info.hot_load_trainer_job == second.job_name
    assert info.hot_load_transition_type == "SYNC"
    # the old trainer's snapshot is not in the new trainer's bucket: the load ends in stage "error"
    assert not deployments.hotload_and_wait(dep, QWEN8B, identity, timeout_seconds=30)
    assert identity in (deployments.last_hotload_error_message or "")
    newer = snapshot(api, second.job_id, "step-00020")
    assert deployments.hotload_and_wait(dep, QWEN8B, newer, timeout_seconds=30)

    deployments.scale_to_zero(dep)
    parked = wait_state(api, f"/v1/accounts/{ACCOUNT}/deployments/{dep}", "READY")
    assert parked["replicaCount"] == 0 and parked["replicaStats"]["readyReplicaCount"] == 0
    assert deployments.hotload_check_status(dep, QWEN8B) == {"replicas": []}

    deployments.delete(dep)
    assert deployments.get(dep) is None or deployments.get(dep).state == "DELETING"  # type: ignore[union-attr]
    deployments._wait_for_deletion(dep)  # noqa: SLF001
    assert deployments.get(dep) is None
    for job in (first.job_id, second.job_id):
        trainers.delete(job)


def test_create_or_get_recreates_a_failed_deployment(
    server: LocalServer, api: httpx.Client, uid: Callable[[str], str]
) -> None:
    deployments = _deployments(server)
    dep = uid("sdk-failed")
    config = DeploymentConfig(deployment_id=dep, base_model=QWEN8B, deployment_shape=DEPLOY_SHAPE,
                              for_training=True)  # a training-pinned shape (issue 13)
    deployments.create_or_get(config)
    deployments.wait_for_ready(dep, poll_interval_s=POLL)
    assert api.post("/_local/v1/faults", json={"kind": "fail", "deployment": dep}).status_code == 200
    with pytest.raises(RuntimeError, match="bad state"):
        deployments.wait_for_ready(dep, poll_interval_s=POLL)
    recreated = deployments.create_or_get(config)  # FAILED -> DELETE -> wait for 404 -> POST
    assert recreated.state == "CREATING"
    assert deployments.wait_for_ready(dep, poll_interval_s=POLL).state == "READY"
    deployments.delete(dep)


def test_sdk_rides_out_an_error_burst(
    server: LocalServer, api: httpx.Client, uid: Callable[[str], str]
) -> None:
    mgr = _trainers(server)
    resp = api.post(
        "/_local/v1/faults", json={"kind": "errors", "rate": 1.0, "statuses": [429, 503], "count": 4}
    )
    assert resp.status_code == 200
    created = mgr.create(TrainerJobConfig(base_model=QWEN8B, training_shape_ref=POLICY_SHAPE))
    assert mgr.get(created.job_id)["name"] == created.job_name
    stats = api.get("/_local/v1/stats").json()
    assert sum(stats["injectedErrors"].values()) >= 4
    mgr.delete(created.job_id)


def test_tinker_rest_client_reads_capabilities_through_the_gateway(
    server: LocalServer, api: httpx.Client, uid: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TINKER_TELEMETRY", "0")
    import tinker

    mgr = _trainers(server)
    endpoint = mgr.create_and_wait(
        TrainerJobConfig(
            base_model=QWEN8B, training_shape_ref=POLICY_SHAPE, requested_job_id=uid("sdk-tinker")
        ),
        poll_interval_s=POLL,
    )
    snapshot(api, endpoint.job_id, "step-00001")
    token = httpx.post(
        f"{endpoint.base_url}/api/v1/auth/token", json={}, headers={"X-Api-Key": KEY}, timeout=10
    )
    assert token.status_code == 200
    jwt = token.json()["jwt"]
    client = tinker.RestClient(base_url=endpoint.base_url, api_key=jwt)
    caps = client.get_server_capabilities().result(timeout=30)
    assert [m.model_name for m in caps.supported_models] == [QWEN8B]
    assert caps.supported_models[0].max_context_length == 131072
    checkpoints = client.list_checkpoints(endpoint.job_id).result(timeout=30)
    assert [c.checkpoint_id for c in checkpoints.checkpoints] == ["step-00001"]
    mgr.delete(endpoint.job_id)
