"""The local control plane behaves like the platform on bad requests (over HTTP)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fireworks.training.sdk.errors import parse_api_error, parse_training_api_error

from tests.local.conftest import (
    ACCOUNT,
    DEPLOY_SHAPE,
    DEPLOY_SHAPE_4B,
    FORWARD_SHAPE,
    KEY,
    LLAMA,
    LORA_SHAPE,
    POLICY_SHAPE,
    QWEN4B,
    QWEN8B,
    LocalServer,
    create_deployment,
    create_trainer,
    hotload_headers,
    inspect,
    snapshot,
    trainer_body,
    wait_state,
)

TRAINERS = f"/v1/accounts/{ACCOUNT}/rlorTrainerJobs"
DEPLOYMENTS = f"/v1/accounts/{ACCOUNT}/deployments"


def assert_error(resp: httpx.Response, status: int, grpc: str, *needles: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert isinstance(body["code"], int)
    assert body["status"] == grpc
    assert body["details"] == []
    for needle in needles:
        assert needle in body["message"], body["message"]
    return dict(body)


def post_trainer(api: httpx.Client, job: str, body: dict[str, Any], **params: str) -> httpx.Response:
    # skipValidations needs a superuser key (issue 13): the local plane's default admin key
    headers = {"X-Api-Key": "fwctl-local-admin-key"} if params.get("skipValidations") == "true" else None
    return api.post(TRAINERS, params={"rlorTrainerJobId": job, **params}, json=body, headers=headers)


def post_deployment(api: httpx.Client, dep: str, body: dict[str, Any], **params: str) -> httpx.Response:
    payload = {
        "baseModel": QWEN8B,
        "minReplicaCount": 0,
        "maxReplicaCount": 1,
        "deploymentShape": DEPLOY_SHAPE,
        "forTraining": True,  # the shape is pinned by a training shape (issue 13)
    }
    payload.update(body)
    return api.post(DEPLOYMENTS, params={"deploymentId": dep, **params}, json=payload)


# -- auth -----------------------------------------------------------------------------------------


def test_auth_accepts_x_api_key_or_bearer_and_never_echoes_a_key(server: LocalServer) -> None:
    url = f"{server.url}/v1/accounts?pageSize=2"
    assert httpx.get(url, headers={"X-Api-Key": KEY}).status_code == 200
    assert httpx.get(url, headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
    missing = httpx.get(url)
    assert_error(missing, 401, "UNAUTHENTICATED")
    wrong = httpx.get(url, headers={"X-Api-Key": "fw-secret-wrong-key-123"})
    assert_error(wrong, 401, "UNAUTHENTICATED")
    assert "fw-secret-wrong-key-123" not in wrong.text
    assert_error(httpx.get(url, headers={"Authorization": "Bearer nope"}), 401, "UNAUTHENTICATED")
    assert_error(
        httpx.post(f"{server.url}/_local/v1/faults", json={"kind": "latency", "ms": 1}),
        401,
        "UNAUTHENTICATED",
    )


def test_one_account_per_key_and_other_accounts_are_forbidden(api: httpx.Client) -> None:
    accounts = api.get("/v1/accounts", params={"pageSize": 2}).json()["accounts"]
    assert [a["name"] for a in accounts] == [f"accounts/{ACCOUNT}"]
    assert_error(api.get("/v1/accounts/someone-else/rlorTrainerJobs"), 403, "PERMISSION_DENIED")


def test_error_bodies_parse_with_the_sdk_parsers(api: httpx.Client) -> None:
    resp = api.get(f"{TRAINERS}/does-not-exist")
    body = assert_error(resp, 404, "NOT_FOUND", "does-not-exist")
    assert parse_api_error(resp) == body["message"]
    err = parse_training_api_error(resp, context="get")
    assert err.status_code == 404
    assert "does-not-exist" in str(err)


def test_malformed_json_is_invalid_argument(api: httpx.Client) -> None:
    resp = api.post(TRAINERS, params={"rlorTrainerJobId": "x"}, content=b"{not json")
    assert_error(resp, 400, "INVALID_ARGUMENT")


# -- unknown fields -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (trainer_body(bogusField=1), "bogusField"),
        (trainer_body(trainingConfig={"batchSizeX": 4}), "batchSizeX"),
    ],
)
def test_unknown_trainer_fields(
    api: httpx.Client, uid: Callable[[str], str], body: dict[str, Any], field: str
) -> None:
    assert_error(
        post_trainer(api, uid("t"), body, trainingShape=POLICY_SHAPE), 400, "INVALID_ARGUMENT", field
    )


def test_unknown_deployment_fields(api: httpx.Client, uid: Callable[[str], str]) -> None:
    assert_error(post_deployment(api, uid("d"), {"replicas": 2}), 400, "INVALID_ARGUMENT", "replicas")
    assert_error(
        post_deployment(api, uid("d"), {"placement": {"zone": "a"}}), 400, "INVALID_ARGUMENT", "zone"
    )
    dep = uid("d")
    create_deployment(api, dep, ready=False)
    resp = api.patch(f"{DEPLOYMENTS}/{dep}", params={"updateMask": "description"}, json={"descr": "x"})
    assert_error(resp, 400, "INVALID_ARGUMENT", "descr")


def test_unknown_hotload_fields(api: httpx.Client, uid: Callable[[str], str]) -> None:
    dep = uid("d")
    create_deployment(api, dep)
    resp = api.post(
        "/hot_load/v1/models/hot_load", headers=hotload_headers(dep), json={"identity": "x", "surprise": True}
    )
    assert_error(resp, 400, "INVALID_ARGUMENT", "surprise", "extra inputs are not permitted")


# -- shapes versus manual infrastructure ----------------------------------------------------------


@pytest.mark.parametrize(
    "extra",
    [
        {"trainingConfig": {"acceleratorType": "NVIDIA_H100_80GB"}},
        {"trainingConfig": {"acceleratorCount": 4}},
        {"nodeCount": 2},
    ],
)
def test_training_shape_with_manual_infra_fields(
    api: httpx.Client, uid: Callable[[str], str], extra: dict[str, Any]
) -> None:
    resp = post_trainer(api, uid("t"), trainer_body(**extra), trainingShape=POLICY_SHAPE)
    assert_error(resp, 400, "INVALID_ARGUMENT", "trainingShape")
    # the same fields on the auto-select path (no shape, no skipValidations) are rejected too
    assert_error(post_trainer(api, uid("t"), trainer_body(**extra)), 400, "INVALID_ARGUMENT")


def test_manual_launch_with_skip_validations(api: httpx.Client, uid: Callable[[str], str]) -> None:
    job = uid("manual")
    body = trainer_body(
        LLAMA, nodeCount=2, trainingConfig={"acceleratorType": "NVIDIA_H100_80GB", "acceleratorCount": 8}
    )
    resp = post_trainer(api, job, body, skipValidations="true")
    assert resp.status_code == 200, resp.text
    created = resp.json()
    assert created["nodeCount"] == 2
    record = inspect(api, f"{TRAINERS}/{job}")
    assert record["trainingShape"] == ""
    assert record["trainingConfig"]["acceleratorType"] == "NVIDIA_H100_80GB"


def test_deployment_shape_with_accelerator_or_shapeless_flag(
    api: httpx.Client, uid: Callable[[str], str]
) -> None:
    resp = post_deployment(api, uid("d"), {"acceleratorType": "NVIDIA_H200_141GB"})
    assert_error(resp, 400, "INVALID_ARGUMENT", "deploymentShape")
    resp = post_deployment(api, uid("d"), {}, acceptShapelessRisk="true")
    assert_error(resp, 400, "INVALID_ARGUMENT", "acceptShapelessRisk")
    shapeless = {"deploymentShape": None, "acceleratorType": "NVIDIA_H200_141GB"}
    # acceptShapelessRisk is "accepted but not enforced" (issue 13 point 4): shapeless works with or without it
    for params in ({}, {"acceptShapelessRisk": "true"}):
        ok = post_deployment(api, uid("d"), shapeless, **params)
        assert ok.status_code == 200, ok.text
        assert ok.json()["deploymentShape"] == ""


# -- unknown models and shapes --------------------------------------------------------------------


def test_unknown_model_or_shape(api: httpx.Client, uid: Callable[[str], str]) -> None:
    nope = "accounts/fireworks/models/nope-70b"
    assert_error(post_trainer(api, uid("t"), trainer_body(nope)), 400, "INVALID_ARGUMENT", nope)
    assert_error(post_deployment(api, uid("d"), {"baseModel": nope}), 400, "INVALID_ARGUMENT", nope)
    bad_shape = "accounts/fireworks/trainingShapes/nope"
    assert_error(
        post_trainer(api, uid("t"), trainer_body(), trainingShape=bad_shape),
        400,
        "INVALID_ARGUMENT",
        bad_shape,
    )
    bad_version = f"{POLICY_SHAPE}/versions/v99"
    assert_error(
        post_trainer(api, uid("t"), trainer_body(), trainingShape=bad_version), 400, "INVALID_ARGUMENT"
    )
    bad_dep_shape = "accounts/fireworks/deploymentShapes/nope"
    assert_error(
        post_deployment(api, uid("d"), {"deploymentShape": bad_dep_shape}), 400, "INVALID_ARGUMENT", "nope"
    )
    assert_error(api.get("/v1/accounts/fireworks/trainingShapes/nope"), 404, "NOT_FOUND")
    assert_error(api.get(f"/v1/{POLICY_SHAPE}/versions/v99"), 404, "NOT_FOUND")
    assert_error(api.get("/v1/accounts/fireworks/deploymentShapes/nope/versions"), 404, "NOT_FOUND")


def test_unvalidated_shape_version_needs_skip_validations(
    api: httpx.Client, uid: Callable[[str], str]
) -> None:
    pinned = f"{POLICY_SHAPE}/versions/r2mz6t9e"
    assert_error(
        post_trainer(api, uid("t"), trainer_body(), trainingShape=pinned), 400, "FAILED_PRECONDITION"
    )
    resp = post_trainer(api, uid("t"), trainer_body(), trainingShape=pinned, skipValidations="true")
    assert resp.status_code == 200
    assert resp.json()["nodeCount"] == 2


def test_shape_and_model_must_match(api: httpx.Client, uid: Callable[[str], str]) -> None:
    resp = post_deployment(api, uid("d"), {"baseModel": QWEN4B})
    assert_error(resp, 400, "INVALID_ARGUMENT", QWEN4B, DEPLOY_SHAPE)
    assert (
        post_deployment(api, uid("d"), {"baseModel": QWEN4B, "deploymentShape": DEPLOY_SHAPE_4B}).status_code
        == 200
    )
    resp = post_trainer(api, uid("t"), trainer_body(QWEN4B), trainingShape=POLICY_SHAPE)
    assert_error(resp, 400, "INVALID_ARGUMENT", QWEN4B)


def test_trainer_modes(api: httpx.Client, uid: Callable[[str], str]) -> None:
    forward = trainer_body(forwardOnly=True)
    assert_error(
        post_trainer(api, uid("t"), forward, trainingShape=POLICY_SHAPE),
        400,
        "INVALID_ARGUMENT",
        "forwardOnly",
    )
    assert post_trainer(api, uid("t"), forward, trainingShape=FORWARD_SHAPE).status_code == 200
    assert_error(
        post_trainer(api, uid("t"), trainer_body(), trainingShape=FORWARD_SHAPE), 400, "INVALID_ARGUMENT"
    )
    lora = trainer_body(trainingConfig={"loraRank": 16})
    assert_error(
        post_trainer(api, uid("t"), lora, trainingShape=POLICY_SHAPE), 400, "INVALID_ARGUMENT", "LORA_TRAINER"
    )
    assert post_trainer(api, uid("t"), lora, trainingShape=LORA_SHAPE).status_code == 200
    # auto-select: a shape per base model / lora / forwardOnly / context, or 400 when none fits
    picked = post_trainer(api, uid("t"), trainer_body(forwardOnly=True)).json()
    assert inspect(api, f"/v1/accounts/{picked['name'].split('/', 1)[1]}")["trainingShape"].startswith(
        FORWARD_SHAPE + "/versions/")
    assert_error(post_trainer(api, uid("t"), trainer_body(LLAMA)), 400, "FAILED_PRECONDITION", "no validated")
    too_long = trainer_body(trainingConfig={"loraRank": 8, "maxContextLength": 131072})
    assert_error(post_trainer(api, uid("t"), too_long), 400, "FAILED_PRECONDITION")


# -- hot-load attachments -------------------------------------------------------------------------


def test_hot_load_trainer_job_must_exist(api: httpx.Client, uid: Callable[[str], str]) -> None:
    missing = f"accounts/{ACCOUNT}/rlorTrainerJobs/no-such-trainer"
    assert_error(
        post_deployment(api, uid("d"), {"hotLoadTrainerJob": missing}), 400, "INVALID_ARGUMENT", missing
    )
    job = uid("t")
    create_trainer(api, job, running=False)
    api.delete(f"{TRAINERS}/{job}")
    deleted = f"accounts/{ACCOUNT}/rlorTrainerJobs/{job}"
    assert_error(post_deployment(api, uid("d"), {"hotLoadTrainerJob": deleted}), 400, "INVALID_ARGUMENT", job)
    dep = uid("d")
    create_deployment(api, dep, ready=False)
    resp = api.patch(
        f"{DEPLOYMENTS}/{dep}",
        params={"updateMask": "hot_load_trainer_job"},
        json={"hotLoadTrainerJob": missing},
    )
    assert_error(resp, 400, "INVALID_ARGUMENT", missing)


def test_mixing_hot_load_scopes(api: httpx.Client, uid: Callable[[str], str]) -> None:
    job = uid("t")
    create_trainer(api, job, running=False)
    trainer_name = f"accounts/{ACCOUNT}/rlorTrainerJobs/{job}"
    bucket = f"gs://bucket/rl-checkpoints/{ACCOUNT}/mine/"
    both = {"hotLoadTrainerJob": trainer_name, "hotLoadBucketUrl": bucket}
    assert_error(post_deployment(api, uid("d"), both), 400, "INVALID_ARGUMENT", "set exactly one")
    # PER_TRAINER deployment cannot take a PER_DEPLOYMENT trainer
    per_trainer = uid("d")
    create_deployment(api, per_trainer, trainer=job, ready=False)
    resp = post_trainer(
        api,
        uid("t"),
        trainer_body(hotLoadDeploymentId=per_trainer),
        trainingShape=POLICY_SHAPE,
        deploymentId=per_trainer,
    )
    assert_error(resp, 400, "INVALID_ARGUMENT", "hotload flow mismatch")
    # a deployment with its own bucket cannot be pointed at a trainer's bucket
    own_bucket = uid("d")
    assert post_deployment(api, own_bucket, {"hotLoadBucketUrl": bucket}).status_code == 200
    resp = api.patch(
        f"{DEPLOYMENTS}/{own_bucket}",
        params={"updateMask": "hot_load_trainer_job"},
        json={"hotLoadTrainerJob": trainer_name},
    )
    assert_error(resp, 400, "INVALID_ARGUMENT", "conflicts")
    # PER_DEPLOYMENT: deployment first, then a trainer with its id; attaching a trainer on top is refused
    per_dep = uid("d")
    create_deployment(api, per_dep, ready=False)
    resp = post_trainer(api, uid("t"), trainer_body(), trainingShape=POLICY_SHAPE, deploymentId=per_dep)
    assert resp.status_code == 200, resp.text
    resp = api.patch(
        f"{DEPLOYMENTS}/{per_dep}",
        params={"updateMask": "hot_load_trainer_job"},
        json={"hotLoadTrainerJob": trainer_name},
    )
    assert_error(resp, 400, "INVALID_ARGUMENT", "hotload flow mismatch")
    missing_dep = post_trainer(
        api, uid("t"), trainer_body(), trainingShape=POLICY_SHAPE, deploymentId="no-such-dep"
    )
    assert_error(missing_dep, 400, "INVALID_ARGUMENT", "no-such-dep")


# -- duplicates and missing resources -------------------------------------------------------------


def test_duplicate_ids_conflict(api: httpx.Client, uid: Callable[[str], str]) -> None:
    job = uid("t")
    create_trainer(api, job)
    assert_error(
        post_trainer(api, job, trainer_body(), trainingShape=POLICY_SHAPE), 409, "ALREADY_EXISTS", job
    )
    dep = uid("d")
    create_deployment(api, dep, ready=False)
    assert_error(post_deployment(api, dep, {}), 409, "ALREADY_EXISTS", dep)
    snapshot(api, job, "step-1")
    resp = api.post(f"/_local/v1/accounts/{ACCOUNT}/rlorTrainerJobs/{job}/snapshots", json={"name": "step-1"})
    assert_error(resp, 409, "ALREADY_EXISTS")
    # a deleted trainer's id stays spent
    api.delete(f"{TRAINERS}/{job}")
    assert_error(post_trainer(api, job, trainer_body(), trainingShape=POLICY_SHAPE), 409, "ALREADY_EXISTS")


def test_missing_resources_are_404(api: httpx.Client) -> None:
    assert_error(api.get(f"{TRAINERS}/nope"), 404, "NOT_FOUND")
    assert_error(api.delete(f"{TRAINERS}/nope"), 404, "NOT_FOUND")
    assert_error(api.post(f"{TRAINERS}/nope:resume"), 404, "NOT_FOUND")
    assert_error(api.get(f"{TRAINERS}/nope/checkpoints"), 404, "NOT_FOUND")
    assert_error(api.get(f"{DEPLOYMENTS}/nope"), 404, "NOT_FOUND")
    assert_error(api.patch(f"{DEPLOYMENTS}/nope", json={"minReplicaCount": 0}), 404, "NOT_FOUND")
    assert_error(api.delete(f"{DEPLOYMENTS}/nope"), 404, "NOT_FOUND")
    assert_error(api.get("/hot_load/v1/models/hot_load", headers=hotload_headers("nope")), 404, "NOT_FOUND")
    assert_error(api.get("/v1/nothing/here"), 404, "NOT_FOUND")


# -- enums, masks, preconditions ------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"placement": {"region": "MOON_BASE_1"}},
        {"hotLoadTransitionType": "EVENTUALLY"},
        {"hotLoadBucketType": "FLOPPY"},
        {"deploymentShape": None, "acceleratorType": "NVIDIA_GTX_1080"},
    ],
)
def test_bad_deployment_enums(api: httpx.Client, uid: Callable[[str], str], body: dict[str, Any]) -> None:
    assert_error(
        post_deployment(
            api, uid("d"), body, acceptShapelessRisk="true" if "acceleratorType" in body else "false"
        ),
        400,
        "INVALID_ARGUMENT",
    )


def test_bad_trainer_enums_and_values(api: httpx.Client, uid: Callable[[str], str]) -> None:
    assert_error(
        post_trainer(
            api, uid("t"), trainer_body(trainingConfig={"region": "MOON"}), trainingShape=POLICY_SHAPE
        ),
        400,
        "INVALID_ARGUMENT",
        "MOON",
    )
    assert_error(
        post_trainer(api, uid("t"), trainer_body(inactivityTimeout="30m"), trainingShape=POLICY_SHAPE),
        400,
        "INVALID_ARGUMENT",
    )
    assert_error(
        post_trainer(api, uid("t"), trainer_body(inactivityTimeout="99999s"), trainingShape=POLICY_SHAPE),
        400,
        "INVALID_ARGUMENT",
    )
    assert_error(
        post_trainer(api, "Bad_ID", trainer_body(), trainingShape=POLICY_SHAPE), 400, "INVALID_ARGUMENT"
    )
    assert_error(
        post_trainer(
            api, uid("t"), trainer_body(trainingConfig={"loraRank": "many"}), trainingShape=POLICY_SHAPE
        ),
        400,
        "INVALID_ARGUMENT",
    )


def test_update_mask_rules(api: httpx.Client, uid: Callable[[str], str]) -> None:
    dep = uid("d")
    create_deployment(api, dep, ready=False, annotations={"team": "rl"})
    path = f"{DEPLOYMENTS}/{dep}"
    assert_error(
        api.patch(path, params={"updateMask": "base_model"}, json={"baseModel": QWEN4B}),
        400,
        "INVALID_ARGUMENT",
        "immutable",
    )
    assert_error(
        api.patch(path, params={"updateMask": "replicas"}, json={}), 400, "INVALID_ARGUMENT", "replicas"
    )
    assert_error(api.patch(path, json={"baseModel": QWEN4B}), 400, "INVALID_ARGUMENT", "immutable")
    assert_error(api.patch(path, json={"minReplicaCount": 3, "maxReplicaCount": 2}), 400, "INVALID_ARGUMENT")
    # without a mask only the fields present change
    resp = api.patch(path, json={"description": "new"})
    assert resp.status_code == 200
    assert "annotations" not in resp.json()  # accepted, kept, never returned (not in the public type)
    assert inspect(api, path)["annotations"] == {"team": "rl"} and resp.json()["maxReplicaCount"] == 1
    # a masked field absent from the body is cleared
    resp = api.patch(path, params={"updateMask": "annotations,description"}, json={"description": "again"})
    assert inspect(api, path)["annotations"] == {} and resp.json()["description"] == "again"


def test_resume_only_from_resumable_states(api: httpx.Client, uid: Callable[[str], str]) -> None:
    job = uid("t")
    create_trainer(api, job)
    assert_error(api.post(f"{TRAINERS}/{job}:resume"), 400, "FAILED_PRECONDITION", "JOB_STATE_RUNNING")
    api.delete(f"{TRAINERS}/{job}")
    wait_state(api, f"{TRAINERS}/{job}", "JOB_STATE_DELETED")
    assert_error(api.post(f"{TRAINERS}/{job}:resume"), 400, "FAILED_PRECONDITION", "JOB_STATE_DELETED")
    assert_error(api.post(f"{TRAINERS}/{job}:cancel"), 400, "FAILED_PRECONDITION", "JOB_STATE_DELETED")


def test_snapshots_need_a_running_trainer(api: httpx.Client, uid: Callable[[str], str]) -> None:
    job = uid("t")
    create_trainer(api, job, running=False)
    resp = api.post(f"/_local/v1/accounts/{ACCOUNT}/rlorTrainerJobs/{job}/snapshots", json={"name": "s1"})
    assert_error(resp, 400, "FAILED_PRECONDITION", "RUNNING")


def test_delete_with_serving_replicas_needs_ignore_checks(
    api: httpx.Client, uid: Callable[[str], str]
) -> None:
    dep = uid("d")
    create_deployment(api, dep)
    assert_error(api.delete(f"{DEPLOYMENTS}/{dep}"), 400, "FAILED_PRECONDITION", "ignoreChecks")
    assert (
        api.delete(f"{DEPLOYMENTS}/{dep}", params={"ignoreChecks": "true", "hard": "true"}).status_code == 200
    )


def test_hotload_headers_must_match_the_deployment(api: httpx.Client, uid: Callable[[str], str]) -> None:
    dep = uid("d")
    create_deployment(api, dep)
    url = "/hot_load/v1/models/hot_load"
    assert_error(api.get(url), 400, "INVALID_ARGUMENT", "fireworks-deployment")
    assert_error(api.get(url, headers=hotload_headers(dep, QWEN4B)), 400, "INVALID_ARGUMENT", QWEN4B)
    assert_error(api.post(url, headers=hotload_headers(dep), json={}), 400, "INVALID_ARGUMENT", "identity")
