"""Rules the platform enforces at create time, enforced by the local plane (issue 13 point 3).

Each test talks HTTP to a real `fwctl local serve` and checks the answer a client sees: the status,
the gRPC status name and a message naming what to change.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.local.conftest import (
    ACCOUNT,
    DEPLOY_SHAPE,
    KEY,
    POLICY_SHAPE,
    QWEN8B,
    LocalServer,
    create_deployment,
    create_trainer,
    start_server,
    trainer_body,
)

TRAINERS = f"/v1/accounts/{ACCOUNT}/rlorTrainerJobs"
DEPLOYMENTS = f"/v1/accounts/{ACCOUNT}/deployments"
ADMIN_KEY = "fwctl-local-admin-key"


def _error(resp: httpx.Response, status: int, grpc: str, *needles: str) -> str:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["status"] == grpc, body
    for needle in needles:
        assert needle in body["message"], body["message"]
    return str(body["message"])


def _manual_body() -> dict[str, Any]:
    return trainer_body(nodeCount=1, trainingConfig={"acceleratorType": "NVIDIA_H200_141GB", "acceleratorCount": 8})


# -- forTraining on a training-pinned deployment shape ----------------------------------------------


def test_a_deployment_on_a_training_pinned_shape_needs_for_training(api: httpx.Client,
                                                                   uid: Callable[[str], str]) -> None:
    body = {"baseModel": QWEN8B, "minReplicaCount": 0, "maxReplicaCount": 1, "deploymentShape": DEPLOY_SHAPE}
    for absent in (body, {**body, "forTraining": False}):
        resp = api.post(DEPLOYMENTS, params={"deploymentId": uid("d")}, json=absent)
        _error(resp, 400, "INVALID_ARGUMENT", "forTraining: true", "pinned by a training shape")
    ok = api.post(DEPLOYMENTS, params={"deploymentId": uid("d")}, json={**body, "forTraining": True})
    assert ok.status_code == 200, ok.text


# -- the manual trainer path needs a superuser key --------------------------------------------------


def test_skip_validations_needs_a_superuser_key(server: LocalServer, api: httpx.Client,
                                                uid: Callable[[str], str]) -> None:
    job = uid("manual")
    resp = api.post(TRAINERS, params={"rlorTrainerJobId": job, "skipValidations": "true"}, json=_manual_body())
    _error(resp, 400, "INVALID_ARGUMENT", "superuser API key")
    assert api.get(f"{TRAINERS}/{job}").status_code == 404  # nothing was created
    with httpx.Client(base_url=server.url, headers={"X-Api-Key": ADMIN_KEY}, timeout=30) as admin:
        created = admin.post(TRAINERS, params={"rlorTrainerJobId": job, "skipValidations": "true"},
                             json=_manual_body())
        assert created.status_code == 200, created.text
        # the admin key is an ordinary key too; the job runs on the GPUs it asked for
        assert admin.get(f"{TRAINERS}/{job}").status_code == 200
        record = admin.get(f"/_local/v1/accounts/{ACCOUNT}/rlorTrainerJobs/{job}").json()
        assert record["trainingConfig"]["acceleratorCount"] == 8 and record["trainingShape"] == ""


# -- maxContextLength ---------------------------------------------------------------------------------


def test_max_context_length_must_be_divisible_by_16(api: httpx.Client, uid: Callable[[str], str]) -> None:
    body = trainer_body(trainingConfig={"maxContextLength": 32770})
    resp = api.post(TRAINERS, params={"rlorTrainerJobId": uid("t")}, json=body)
    _error(resp, 400, "INVALID_ARGUMENT", "32770 must be divisible by 16", "32768")
    ok = api.post(TRAINERS, params={"rlorTrainerJobId": uid("t")},
                  json=trainer_body(trainingConfig={"maxContextLength": 32768}))
    assert ok.status_code == 200, ok.text


# -- weight-sync scope: PER_TRAINER vs PER_DEPLOYMENT ----------------------------------------------------


def test_a_per_deployment_trainer_cannot_source_another_deployment(api: httpx.Client,
                                                                   uid: Callable[[str], str]) -> None:
    keyed, other = uid("keyed"), uid("other")
    create_deployment(api, keyed, ready=False)
    job = uid("perdep")
    create_trainer(api, job, running=False, hotLoadDeploymentId=keyed)
    resp = api.post(DEPLOYMENTS, params={"deploymentId": other}, json={
        "baseModel": QWEN8B, "deploymentShape": DEPLOY_SHAPE, "forTraining": True,
        "hotLoadTrainerJob": f"accounts/{ACCOUNT}/rlorTrainerJobs/{job}"})
    _error(resp, 400, "INVALID_ARGUMENT", "hotload flow mismatch", f"deployment-first-keyed for deployment {keyed}",
           f"source for deployment {other}")
    # nor attached later by a PATCH
    create_deployment(api, other, ready=False)
    patched = api.patch(f"{DEPLOYMENTS}/{other}", params={"updateMask": "hot_load_trainer_job"},
                        json={"hotLoadTrainerJob": f"accounts/{ACCOUNT}/rlorTrainerJobs/{job}"})
    _error(patched, 400, "INVALID_ARGUMENT", "deployment-first-keyed")


def test_a_per_deployment_trainer_cannot_feed_a_per_trainer_deployment(api: httpx.Client,
                                                                       uid: Callable[[str], str]) -> None:
    source, dep = uid("source"), uid("dep")
    create_trainer(api, source, running=False)
    create_deployment(api, dep, trainer=source, ready=False)
    resp = api.post(TRAINERS, params={"rlorTrainerJobId": uid("t"), "trainingShape": POLICY_SHAPE,
                                      "deploymentId": dep}, json=trainer_body())
    _error(resp, 400, "INVALID_ARGUMENT", f"trainer wants deployment-first (hot_load_deployment_id={dep})",
           f"is trainer-first (hot_load_trainer_job=accounts/{ACCOUNT}/rlorTrainerJobs/{source})")


# -- a training shape not enabled for the account: 412 ----------------------------------------------------


@pytest.fixture(scope="module")
def restricted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.Client, str, str]]:
    """A plane whose catalog has a shape enabled for no account and one allow-listed for another."""
    from importlib import resources

    catalog = json.loads(resources.files("reconciler.local").joinpath("catalog.json").read_text())
    policy = next(s for s in catalog["trainingShapes"] if s["name"] == POLICY_SHAPE)
    closed = {**policy, "name": POLICY_SHAPE + "-closed", "enabledForAccount": False}
    elsewhere = {**policy, "name": POLICY_SHAPE + "-elsewhere", "enabledAccounts": ["someone-else"]}
    catalog["trainingShapes"] = [closed, elsewhere, *catalog["trainingShapes"]]  # auto-select sees them first
    path = Path(tmp_path_factory.mktemp("catalog")) / "catalog.json"
    path.write_text(json.dumps(catalog))
    srv = start_server(str(path.parent / "local.db"), "--catalog", str(path))
    try:
        with httpx.Client(base_url=srv.url, headers={"X-Api-Key": KEY}, timeout=30) as client:
            yield client, closed["name"], elsewhere["name"]
    finally:
        srv.stop()


def test_a_shape_not_enabled_for_the_account_is_a_412(restricted: tuple[httpx.Client, str, str],
                                                      uid: Callable[[str], str]) -> None:
    client, closed, elsewhere = restricted
    for shape in (closed, elsewhere):
        resp = client.post(TRAINERS, params={"rlorTrainerJobId": uid("t"), "trainingShape": shape},
                           json=trainer_body())
        _error(resp, 412, "FAILED_PRECONDITION", shape, f"not enabled for account {ACCOUNT}")
    # auto-selection passes over shapes the account cannot use
    auto = client.post(TRAINERS, params={"rlorTrainerJobId": uid("t")}, json=trainer_body())
    assert auto.status_code == 200, auto.text
    inspected = client.get(f"/_local/v1/accounts/{ACCOUNT}/rlorTrainerJobs/{auto.json()['name'].split('/')[-1]}")
    assert inspected.json()["trainingShape"].startswith(POLICY_SHAPE + "/versions/")


# -- quota vs rate limit ------------------------------------------------------------------------------------


def test_gpu_quota_429_is_distinct_from_a_rate_limit(server: LocalServer, api: httpx.Client,
                                                     uid: Callable[[str], str]) -> None:
    quota = api.put("/_local/v1/quotas/nvidia-b200-180gb", json={"value": 0})
    assert quota.status_code == 200, quota.text
    try:
        with httpx.Client(base_url=server.url, headers={"X-Api-Key": ADMIN_KEY}, timeout=30) as admin:
            body = trainer_body(nodeCount=1, trainingConfig={"acceleratorType": "NVIDIA_B200_180GB",
                                                            "acceleratorCount": 8})
            resp = admin.post(TRAINERS, params={"rlorTrainerJobId": uid("t"), "skipValidations": "true"},
                              json=body)
        message = _error(resp, 429, "RESOURCE_EXHAUSTED", "Quota exceeded", "nvidia-b200-180gb")
        assert "retry-after" not in resp.headers  # waiting does not raise a quota
        assert "rate limit" not in message
    finally:
        api.put("/_local/v1/quotas/nvidia-b200-180gb", json={"value": 16})


def test_no_capacity_is_resource_exhausted_and_says_capacity_not_quota(api: httpx.Client,
                                                                      uid: Callable[[str], str]) -> None:
    set_fault = api.post("/_local/v1/faults", json={"kind": "capacity", "reject": True})
    assert set_fault.status_code == 200 and set_fault.json()["faults"]["capacity"]["reject"] is True
    try:
        resp = api.post(TRAINERS, params={"rlorTrainerJobId": uid("t"), "trainingShape": POLICY_SHAPE},
                        json=trainer_body())
        message = _error(resp, 429, "RESOURCE_EXHAUSTED", "no capacity")
        assert "Quota" not in message and "rate limit" not in message
        assert "retry-after" not in resp.headers
        dep = api.post(DEPLOYMENTS, params={"deploymentId": uid("d")},
                       json={"baseModel": QWEN8B, "deploymentShape": DEPLOY_SHAPE, "forTraining": True,
                             "minReplicaCount": 1, "maxReplicaCount": 1})
        _error(dep, 429, "RESOURCE_EXHAUSTED", "no capacity")
    finally:
        api.delete("/_local/v1/faults")
    create_trainer(api, uid("t"), running=False)  # capacity again: the same create goes through
