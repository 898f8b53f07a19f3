"""What the SDK and the cookbook call while bootstrapping a run, against `fwctl local serve` on 127.0.0.1.

The SDK's managers run unchanged (only their sleeps are shortened, `fast_sdk`); the cookbook's
bootstrap helpers (fw-ai/cookbook `training/utils/shape_selection.py`: model details, validated-shape
auto-selection, deployment from the selected profile) are not installed, so their requests are
reproduced here byte for byte through the SDK's own REST client (`TrainerJobManager._get`, which the
cookbook calls too).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from fireworks import Fireworks
from fireworks.training.sdk import DeploymentConfig, DeploymentManager, TrainerJobConfig, TrainerJobManager
from fireworks.training.sdk.fireworks_client import FireworksClient, ModelDetailsUnavailableError

from tests.local.conftest import (
    ACCOUNT,
    KEY,
    QWEN8B,
    LocalServer,
    create_deployment,
    create_trainer,
    snapshot,
    wait_state,
)

pytestmark = pytest.mark.usefixtures("fast_sdk")
POLL = 0.02
QWEN9B = "accounts/fireworks/models/qwen3p5-9b"
SHAPES = "accounts/fireworks/trainingShapes"
RFT_8B = "accounts/fireworks/deploymentShapes/rft-qwen3-8b"


def _wait_gone(api: httpx.Client, path: str) -> None:
    deadline = time.time() + 10
    while api.get(path).status_code != 404:
        assert time.time() < deadline, f"{path} was never deleted"
        time.sleep(0.01)


def _trainers(server: LocalServer) -> TrainerJobManager:
    return TrainerJobManager(api_key=KEY, base_url=server.url)


def _cookbook_versions(mgr: TrainerJobManager, parent: str, key: str, filter_expr: str) -> list[dict[str, Any]]:
    """The cookbook's `_list_paginated_resources`: the same query, the same paging."""
    rows: list[dict[str, Any]] = []
    token = None
    while True:
        params: dict[str, Any] = {"filter": filter_expr, "orderBy": "create_time desc", "pageSize": 200}
        if token:
            params["pageToken"] = token
        resp = mgr._get(f"/v1/{parent}/versions?{urlencode(params)}", timeout=30)  # noqa: SLF001
        assert resp.is_success, resp.text
        data = resp.json() or {}
        rows.extend(data.get(key, []) or [])
        token = data.get("nextPageToken")
        if not token:
            return rows


def _cookbook_select_policy(mgr: TrainerJobManager, base_model: str, max_seq_len: int, mode: str) -> dict[str, Any]:
    """`select_validated_launch_shapes` for a policy: the exact filter, then the compatibility bucket
    (model details: modelType, parameterCount), then the smallest context that fits."""
    exact = _cookbook_versions(mgr, "accounts/-/trainingShapes/-", "trainingShapeVersions",
                               f'snapshot.base_model="{base_model}" AND latest_validated=true AND '
                               f'snapshot.trainer_mode="{mode}"')
    fits = [v for v in exact if v["snapshot"]["maxSupportedContextLength"] >= max_seq_len]
    if not fits:
        details = mgr._get(f"/v1/{base_model}", timeout=30).json()["baseModelDetails"]  # noqa: SLF001
        count = int(details["parameterCount"])
        size = 10**9 if count < 10**10 else 10**10
        lo = count // size * size
        compat = _cookbook_versions(mgr, "accounts/-/trainingShapes/-", "trainingShapeVersions",
                                    f'snapshot.model_type="{details["modelType"]}" AND snapshot.parameter_count>={lo} '
                                    f'AND snapshot.parameter_count<={lo + size} AND latest_validated=true AND '
                                    f'snapshot.trainer_mode="{mode}"')
        fits = [v for v in compat if v["snapshot"]["maxSupportedContextLength"] >= max_seq_len]
    assert fits, "no validated training shape matched"
    return min(fits, key=lambda v: v["snapshot"]["maxSupportedContextLength"])


def test_model_details_answer_what_the_sdk_and_cookbook_read(server: LocalServer) -> None:
    client = FireworksClient(api_key=KEY, base_url=server.url)
    assert client.model_is_moe(QWEN8B) is False  # reads baseModelDetails.moe, raises when it is missing
    with pytest.raises(ModelDetailsUnavailableError):
        client.model_is_moe("accounts/fireworks/models/no-such-model")
    details = _trainers(server)._get(f"/v1/{QWEN8B}", timeout=30).json()["baseModelDetails"]  # noqa: SLF001
    assert details["modelType"] == "qwen3" and int(details["parameterCount"]) > 8 * 10**9
    assert details["supportsFireattention"] is True


def test_cookbook_shape_auto_selection_then_deployment_from_the_profile(
    server: LocalServer, uid: Callable[[str], str]
) -> None:
    trainers = _trainers(server)
    # a 4k recipe on qwen3-8b: the smallest validated full-parameter context that fits is qwen3-8b-128k
    chosen = _cookbook_select_policy(trainers, QWEN8B, 4096, "POLICY_TRAINER")
    assert chosen["name"] == f"{SHAPES}/qwen3-8b-128k/versions/vnuk8fdq"
    # only latest validated versions come back, newest first, each naming its linked deployment shape
    policy = _cookbook_versions(trainers, "accounts/-/trainingShapes/-", "trainingShapeVersions",
                                f'snapshot.base_model="{QWEN8B}" AND latest_validated=true AND '
                                'snapshot.trainer_mode="POLICY_TRAINER"')
    assert sorted(v["name"] for v in policy) == [f"{SHAPES}/qwen3-8b-128k-h200/versions/h7wd3p0s",
                                                 f"{SHAPES}/qwen3-8b-128k/versions/vnuk8fdq"]
    assert [v["createTime"] for v in policy] == sorted((v["createTime"] for v in policy), reverse=True)
    # LoRA on qwen3p5-9b at 200k context
    lora = _cookbook_select_policy(trainers, QWEN9B, 200_000, "LORA_TRAINER")
    assert lora["name"] == f"{SHAPES}/qwen3p5-9b-256k-lora/versions/p6o371lz"
    # the SDK resolves the chosen shape (unversioned: latest validated) to the same profile
    shape_id = chosen["name"].split("/versions/")[0]
    profile = trainers.resolve_training_profile(shape_id)
    assert profile.training_shape_version == chosen["name"]
    assert (profile.accelerator_type, profile.accelerator_count) == ("NVIDIA_B200_180GB", 4)
    assert profile.deployment_shape_version == f"{RFT_8B}/versions/gyiqbrd6"
    # and the cookbook's deployment from that profile comes up on the linked shape
    deployments = DeploymentManager(api_key=KEY, base_url=server.url)
    dep = uid("boot-dep")
    config = DeploymentConfig.from_training_profile(deployment_id=dep, base_model=QWEN8B, profile=profile,
                                                    min_replica_count=1, max_replica_count=1, for_training=True)
    created = deployments.create_or_get(config)
    assert created.deployment_shape_version == f"{RFT_8B}/versions/gyiqbrd6"
    assert deployments.wait_for_ready(dep, poll_interval_s=POLL).state == "READY"


def test_deployment_shape_selection_filters_on_engine(server: LocalServer) -> None:
    trainers = _trainers(server)
    fireattention = _cookbook_versions(trainers, "accounts/-/deploymentShapes/-", "deploymentShapeVersions",
                                       f'snapshot.base_model="{QWEN8B}" AND latest_validated=true AND '
                                       'snapshot.engine="FIREATTENTION"')
    assert [v["name"] for v in fireattention] == [f"{RFT_8B}/versions/s6y1k9pb"]
    other = _cookbook_versions(trainers, "accounts/-/deploymentShapes/-", "deploymentShapeVersions",
                               f'snapshot.base_model="{QWEN8B}" AND latest_validated=true AND '
                               'snapshot.engine!="FIREATTENTION"')
    assert other == []


@pytest.mark.parametrize("bad", [
    'latest_validated=true OR validated=false',
    'snapshot.colour="red"',
    'snapshot.base_model>"a"',
    'snapshot.parameter_count>=lots',
    'latest_validated=yes',
])
def test_filters_the_platform_does_not_take_are_refused(api: httpx.Client, bad: str) -> None:
    resp = api.get("/v1/accounts/-/trainingShapes/-/versions", params={"filter": bad})
    assert resp.status_code == 400 and resp.json()["status"] == "INVALID_ARGUMENT", resp.text
    order = api.get("/v1/accounts/-/trainingShapes/-/versions", params={"orderBy": "colour desc"})
    assert order.status_code == 400


def test_promote_a_checkpoint_with_the_sdk(server: LocalServer, api: httpx.Client, uid: Callable[[str], str]) -> None:
    trainers = _trainers(server)
    job = uid("promote")
    create_trainer(api, job)
    identity = snapshot(api, job, "step-4")
    entry = next(c for c in trainers.list_checkpoints(job) if c["name"].endswith(f"/{identity}"))
    model_id = uid("promoted")
    model = trainers.promote_checkpoint(name=entry["name"], output_model_id=model_id, base_model=QWEN8B)
    assert model["name"] == f"accounts/{ACCOUNT}/models/{model_id}" and model["state"] == "READY"
    assert api.get(f"/v1/accounts/{ACCOUNT}/models/{model_id}").json()["kind"] == "HF_BASE_MODEL"
    with pytest.raises(RuntimeError):  # the same output model twice: 409
        trainers.promote_checkpoint(name=entry["name"], output_model_id=model_id, base_model=QWEN8B)
    with pytest.raises(RuntimeError):  # not the trainer's base model
        trainers.promote_checkpoint(name=entry["name"], output_model_id=uid("other"),
                                    base_model="accounts/fireworks/models/qwen3-4b")
    missing = api.post(f"/v1/accounts/{ACCOUNT}/checkpoints/step-99:promote",
                       json={"output_model": f"accounts/{ACCOUNT}/models/{uid('m')}", "base_model": QWEN8B,
                             "trainer_job_id": f"accounts/{ACCOUNT}/rlorTrainerJobs/{job}"})
    assert missing.status_code == 404


def test_scale_undelete_and_show_deleted_with_the_generated_client(
    server: LocalServer, api: httpx.Client, uid: Callable[[str], str]
) -> None:
    client = Fireworks(api_key=KEY, base_url=server.url, account_id=ACCOUNT)
    dep = uid("scale")
    path = f"/v1/accounts/{ACCOUNT}/deployments/{dep}"
    create_deployment(api, dep)
    client.deployments.scale(dep, replica_count=0)
    scaled = api.get(path).json()
    assert (scaled["minReplicaCount"], scaled["maxReplicaCount"]) == (0, 0)
    wait_state(api, path, "READY")

    # a soft delete (no hard=true) can be listed with showDeleted and undeleted
    assert api.delete(path).status_code == 200
    assert api.post(f"{path}:undelete", json={}).status_code == 400  # still DELETING
    _wait_gone(api, path)
    deleted = [d for d in client.deployments.list(show_deleted=True, page_size=200).deployments or []
               if d.name == f"accounts/{ACCOUNT}/deployments/{dep}"]
    assert [d.state for d in deleted] == ["DELETED"]
    assert dep not in [d["name"].rsplit("/", 1)[-1] for d in api.get(f"/v1/accounts/{ACCOUNT}/deployments",
                                                                       params={"pageSize": 200}).json()["deployments"]]
    restored = client.deployments.undelete(dep, body={})
    assert restored.name == f"accounts/{ACCOUNT}/deployments/{dep}"
    assert wait_state(api, path, "READY")["name"] == restored.name
    assert api.post(f"{path}:undelete", json={}).status_code == 400  # not deleted

    # a hard delete (what fwctl and the SDK send) is purged: not listed, not undeletable
    assert api.delete(path, params={"hard": "true", "ignoreChecks": "true"}).status_code == 200
    _wait_gone(api, path)
    assert api.post(f"{path}:undelete", json={}).status_code == 404
    listed = api.get(f"/v1/accounts/{ACCOUNT}/deployments", params={"showDeleted": "true", "pageSize": 200})
    assert dep not in [d["name"].rsplit("/", 1)[-1] for d in listed.json()["deployments"]]


def test_trainer_job_manager_auto_select_reads_the_real_catalog(
    server: LocalServer, api: httpx.Client, uid: Callable[[str], str]
) -> None:
    trainers = _trainers(server)
    created = trainers.create(TrainerJobConfig(base_model=QWEN9B, lora_rank=16, auto_select_training_shape=True,
                                               requested_job_id=uid("auto9b")))
    record = api.get(f"/_local/v1/accounts/{ACCOUNT}/rlorTrainerJobs/{created.job_id}").json()
    assert record["trainingShape"] == f"{SHAPES}/qwen3p5-9b-256k-lora/versions/p6o371lz"
    trainers.delete(created.job_id)
