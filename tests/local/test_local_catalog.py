"""The catalog reads plan-time checks use: models (get, list) and shapes, the way Fireworks answers them."""

from __future__ import annotations

import httpx

from tests.local.conftest import DEPLOY_SHAPE, LORA_SHAPE, POLICY_SHAPE, QWEN4B, QWEN8B
from tests.local.test_local_validation import assert_error


def test_get_model_answers_the_public_model_type(api: httpx.Client) -> None:
    model = api.get(f"/v1/{QWEN8B}").json()
    assert model["name"] == QWEN8B and model["state"] == "READY"
    assert model["contextLength"] == 131072 and model["supportsLora"] is True
    assert api.get(f"/v1/{QWEN4B}").json()["contextLength"] == 65536
    assert_error(api.get("/v1/accounts/fireworks/models/nope-70b"), 404, "NOT_FOUND", "nope-70b")
    # Not in the catalog under any account (the strictest reading): another account's name is 404 too.
    assert_error(api.get("/v1/accounts/fwctl-local/models/qwen3-8b"), 404, "NOT_FOUND")


def test_list_models_pages_the_public_catalog(api: httpx.Client) -> None:
    first = api.get("/v1/accounts/fireworks/models", params={"pageSize": 2}).json()
    assert len(first["models"]) == 2 and first["nextPageToken"] and first["totalSize"] == 4
    rest = api.get("/v1/accounts/fireworks/models", params={"pageSize": 2, "pageToken": first["nextPageToken"]}).json()
    names = [m["name"] for m in first["models"] + rest["models"]]
    assert QWEN8B in names and len(set(names)) == 4 and rest["nextPageToken"] == ""
    # the public catalog is not listed under another account (models promoted there may be)
    assert not [m for m in api.get("/v1/accounts/fwctl-local/models").json()["models"] if m.get("public")]


def test_shape_versions_carry_the_base_model_and_trainer_mode(api: httpx.Client) -> None:
    latest = api.get(f"/v1/{LORA_SHAPE}/versions", params={"filter": "latest_validated=true", "pageSize": 1}).json()
    version = latest["trainingShapeVersions"][0]
    assert version["snapshot"]["trainerMode"] == "LORA_TRAINER" and version["snapshot"]["baseModel"] == QWEN8B
    assert api.get(f"/v1/{POLICY_SHAPE}/versions/c4n8xq2k").json()["snapshot"]["maxSupportedContextLength"] == 131072
    serving = api.get(f"/v1/{DEPLOY_SHAPE}/versions", params={"filter": "latest_validated=true"}).json()
    assert serving["deploymentShapeVersions"][0]["baseModel"] == QWEN8B
