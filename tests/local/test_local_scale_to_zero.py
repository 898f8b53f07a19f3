"""``min: 0`` deployments on a served local plane: scale to zero when idle, wake on a request, vanish after 7 days.

As the platform documents (Autoscaling): with no request for ``autoscalingPolicy.scaleToZeroWindow``
(default 1 h, at least 5 min) the replicas go; the next request answers ``503 DEPLOYMENT_SCALING_UP`` and
starts a cold start; a ``min: 0`` deployment without traffic for 7 days is deleted. Durations are emulated
and divided by ``--speed``: these servers run fast enough for an idle hour or week to pass in a test.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.local.conftest import ACCOUNT, KEY, create_deployment, start_server

WINDOW_SPEED = 1000.0  # scaleToZeroWindow 5m -> 0.3 s; a cold start (6 s) -> 6 ms
WEEK_SPEED = 7 * 86400 / 1.5  # 7 idle days -> 1.5 s


@pytest.fixture(scope="module")
def fast_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    srv = start_server(str(tmp_path_factory.mktemp("s2z") / "local.db"), speed=WINDOW_SPEED)
    with httpx.Client(base_url=srv.url, headers={"X-Api-Key": KEY}, timeout=30) as client:
        yield client
    srv.stop()


def complete(api: httpx.Client, dep: str) -> httpx.Response:
    return api.post("/inference/v1/completions",
                    json={"model": f"accounts/{ACCOUNT}/deployments/{dep}", "prompt": [1, 2], "max_tokens": 2})


def deployment(api: httpx.Client, dep: str) -> dict[str, Any]:
    return dict(api.get(f"/v1/accounts/{ACCOUNT}/deployments/{dep}").json())


def test_an_idle_min_zero_deployment_scales_to_zero_and_wakes_on_a_request(
        fast_api: httpx.Client, uid: Callable[[str], str]) -> None:
    dep = uid("s2z")
    created = create_deployment(fast_api, dep, minReplicaCount=0, maxReplicaCount=2,
                                autoscalingPolicy={"scaleToZeroWindow": "5m"})
    assert created["autoscalingPolicy"] == {"scaleToZeroWindow": "5m"}
    assert complete(fast_api, dep).status_code == 200
    for _ in range(4):  # traffic keeps it up: each request restarts the idle window
        time.sleep(0.15)
        assert complete(fast_api, dep).status_code == 200
    time.sleep(0.5)  # idle for longer than the window
    parked = deployment(fast_api, dep)
    assert (parked["state"], parked["replicaCount"], parked["desiredReplicaCount"]) == ("READY", 0, 0)
    waking = complete(fast_api, dep)
    assert waking.status_code == 503
    assert waking.json()["error"]["code"] == "DEPLOYMENT_SCALING_UP"
    time.sleep(0.05)  # the cold start
    assert complete(fast_api, dep).status_code == 200
    assert deployment(fast_api, dep)["replicaCount"] == 1


def test_a_deployment_scaled_to_zero_refuses_a_hot_load_and_wakes_without_it(
        fast_api: httpx.Client, uid: Callable[[str], str]) -> None:
    dep = uid("s2z-hot")
    create_deployment(fast_api, dep, minReplicaCount=0, maxReplicaCount=1, autoscalingPolicy={"scaleToZeroWindow": "5m"})
    time.sleep(0.5)
    headers = {"fireworks-deployment": f"accounts/{ACCOUNT}/deployments/{dep}",
               "fireworks-model": "accounts/fireworks/models/qwen3-8b"}
    status = fast_api.get("/hot_load/v1/models/hot_load", headers=headers).json()
    assert status == {"replicas": []}  # no pod to load into
    refused = fast_api.post("/hot_load/v1/models/hot_load", headers=headers, json={"identity": "step-1"})
    assert refused.status_code == 400 and "no serving replicas" in refused.text


def test_the_scale_to_zero_window_has_the_documented_minimum(fast_api: httpx.Client, uid: Callable[[str], str]) -> None:
    dep = uid("s2z-short")
    answer = fast_api.post(f"/v1/accounts/{ACCOUNT}/deployments", params={"deploymentId": dep}, json={
        "baseModel": "accounts/fireworks/models/qwen3-8b", "acceleratorType": "NVIDIA_H100_80GB",
        "minReplicaCount": 0, "maxReplicaCount": 1, "autoscalingPolicy": {"scaleToZeroWindow": "60s"}})
    assert answer.status_code == 400 and "at least 5m" in answer.json()["message"]


def test_min_zero_deployments_are_deleted_after_seven_idle_days(
        tmp_path_factory: pytest.TempPathFactory, uid: Callable[[str], str]) -> None:
    srv = start_server(str(tmp_path_factory.mktemp("week") / "local.db"), speed=WEEK_SPEED)
    try:
        with httpx.Client(base_url=srv.url, headers={"X-Api-Key": KEY}, timeout=30) as api:
            idle, parked, kept = uid("idle"), uid("parked"), uid("kept")
            create_deployment(api, idle, minReplicaCount=0, maxReplicaCount=1)
            create_deployment(api, parked, minReplicaCount=0, maxReplicaCount=0)
            create_deployment(api, kept, minReplicaCount=1, maxReplicaCount=1)
            time.sleep(2.0)  # a week without traffic
            assert api.get(f"/v1/accounts/{ACCOUNT}/deployments/{idle}").status_code == 404
            assert api.get(f"/v1/accounts/{ACCOUNT}/deployments/{parked}").status_code == 404
            assert deployment(api, kept)["state"] == "READY"
            listed = {d["name"].rsplit("/", 1)[-1] for d in api.get(f"/v1/accounts/{ACCOUNT}/deployments").json()
                      ["deployments"]}
            assert kept in listed and idle not in listed and parked not in listed
            assert complete(api, idle).status_code == 404
            # the id is free again: a new deployment of that name can be created
            create_deployment(api, idle, minReplicaCount=0, maxReplicaCount=1)
    finally:
        srv.stop()
