"""Account quotas on the local plane (issue 15): list/get with the documented defaults, --quota and the
admin call set them, and a create or scale over a GPU quota is refused with 429."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.local.conftest import KEY, QWEN8B, start_server

ACCOUNT = "fwctl-local"
B200 = "nvidia-b200-180gb"


@pytest.fixture
def api(tmp_path: Path) -> Iterator[httpx.Client]:
    srv = start_server(str(tmp_path / "local.db"), "--quota", f"{B200}=8")
    try:
        with httpx.Client(base_url=srv.url, headers={"X-Api-Key": KEY}, timeout=30) as client:
            yield client
    finally:
        srv.stop()


def _deployment(api: httpx.Client, dep: str, max_replicas: int) -> httpx.Response:
    body = {"baseModel": QWEN8B, "acceleratorType": "NVIDIA_B200_180GB",
            "acceleratorCount": 4, "minReplicaCount": 0, "maxReplicaCount": max_replicas}
    return api.post(f"/v1/accounts/{ACCOUNT}/deployments", params={"deploymentId": dep, "acceptShapelessRisk": "true"},
                    json=body)


def test_quotas_list_and_get_with_documented_defaults_and_overrides(api: httpx.Client) -> None:
    quotas = {q["name"]: q for q in api.get(f"/v1/accounts/{ACCOUNT}/quotas").json()["quotas"]}
    assert quotas[f"accounts/{ACCOUNT}/quotas/nvidia-a100-80gb"]["value"] == "16"  # the documented default
    assert quotas[f"accounts/{ACCOUNT}/quotas/{B200}"]["value"] == "8"  # --quota
    assert f"accounts/{ACCOUNT}/quotas/monthly-spend-usd" in quotas
    assert api.get(f"/v1/accounts/{ACCOUNT}/quotas/{B200}").json()["usage"] == 0
    assert api.get(f"/v1/accounts/{ACCOUNT}/quotas/nope").status_code == 404


def test_create_and_scale_over_a_gpu_quota_are_429(api: httpx.Client) -> None:
    over = _deployment(api, "too-big", 3)  # 4 x 3 = 12 > 8
    assert over.status_code == 429 and over.json()["status"] == "RESOURCE_EXHAUSTED"
    assert B200 in over.json()["message"] and "quota_available=8" in over.json()["message"]
    assert _deployment(api, "fits", 2).status_code == 200
    assert api.get(f"/v1/accounts/{ACCOUNT}/quotas/{B200}").json()["usage"] == 8
    scale = api.patch(f"/v1/accounts/{ACCOUNT}/deployments/fits", params={"updateMask": "max_replica_count"},
                      json={"maxReplicaCount": 3})
    assert scale.status_code == 429, scale.text
    raised = api.put(f"/_local/v1/quotas/{B200}", json={"value": 12})
    assert raised.status_code == 200 and raised.json()["value"] == "12"
    assert api.patch(f"/v1/accounts/{ACCOUNT}/deployments/fits", params={"updateMask": "max_replica_count"},
                     json={"maxReplicaCount": 3}).status_code == 200
