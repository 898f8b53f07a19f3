"""Sampler snapshots (issue 13 point 5): session identities, base and delta checkpoints, LoRA adapters
reported through ``loaded_adapters``, against a real `fwctl local serve` over HTTP."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.local.conftest import (
    ACCOUNT,
    KEY,
    LORA_SHAPE,
    QWEN8B,
    LocalServer,
    create_deployment,
    create_trainer,
    hotload_headers,
    wait_state,
)

TRAINERS = f"/v1/accounts/{ACCOUNT}/rlorTrainerJobs"
HOTLOAD = "/hot_load/v1/models/hot_load"


def save(api: httpx.Client, job: str, name: str, **extra: Any) -> dict[str, Any]:
    resp = api.post(f"/_local/v1/accounts/{ACCOUNT}/rlorTrainerJobs/{job}/snapshots", json={"name": name, **extra})
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def checkpoints(api: httpx.Client, job: str) -> dict[str, dict[str, Any]]:
    rows = api.get(f"{TRAINERS}/{job}/checkpoints").json()["checkpoints"]
    return {r["name"].rsplit("/", 1)[1]: r for r in rows}


def served(api: httpx.Client, dep: str, identity: str) -> dict[str, Any]:
    deadline = time.time() + 5
    while True:
        replica = api.get(HOTLOAD, headers=hotload_headers(dep)).json()["replicas"][0]
        if replica["loading_state"]["stage"] != "loading" or time.time() > deadline:
            return dict(replica)
        time.sleep(0.01)


def test_full_parameter_saves_a_base_then_deltas_per_session(api: httpx.Client, uid: Callable[[str], str]) -> None:
    job = uid("fp")
    create_trainer(api, job)
    base = save(api, job, "step-1", session=True)
    assert re.fullmatch(r"step-1-[0-9a-f]{8}", base["identity"]), base
    session = base["identity"].rsplit("-", 1)[1]
    delta = save(api, job, "step-2", session=True)
    assert delta["identity"] == f"step-2-{session}"
    rows = checkpoints(api, job)
    assert rows[base["identity"]]["checkpointType"] == "CHECKPOINT_TYPE_INFERENCE_BASE"
    assert rows[base["identity"]]["promotable"] is True
    assert rows[delta["identity"]]["checkpointType"] == "CHECKPOINT_TYPE_INFERENCE_ARC_V2"
    assert rows[delta["identity"]]["promotable"] is False
    # an identity the SDK already qualified keeps its own session: a new session starts with a base
    sdk = save(api, job, "step-3-0a1b2c3d")
    assert checkpoints(api, job)["step-3-0a1b2c3d"]["promotable"] is True
    assert save(api, job, "step-4-0a1b2c3d")["identity"] == "step-4-0a1b2c3d"
    assert checkpoints(api, job)["step-4-0a1b2c3d"]["promotable"] is False
    assert sdk["identity"] == "step-3-0a1b2c3d"
    # a resume is a new session: its first save is a base again, under another suffix
    api.post(f"{TRAINERS}/{job}:cancel").raise_for_status()
    api.post(f"{TRAINERS}/{job}:resume").raise_for_status()
    wait_state(api, f"{TRAINERS}/{job}", "JOB_STATE_RUNNING")
    after = save(api, job, "step-5", session=True)
    assert not after["identity"].endswith(session)
    assert checkpoints(api, job)[after["identity"]]["promotable"] is True
    # an explicit override, as the SDK's checkpoint_type
    forced = save(api, job, "step-6", session=True, checkpointType="base")
    assert checkpoints(api, job)[forced["identity"]]["promotable"] is True


@pytest.mark.parametrize(("body", "needle"), [
    ({"checkpointType": "merged_base"}, "no adapter"),
    ({"checkpointType": "weird"}, "is not one of base, delta, merged_base"),
    ({"session": "yes"}, "expected bool"),
])
def test_bad_snapshot_requests(api: httpx.Client, uid: Callable[[str], str], body: dict[str, Any],
                               needle: str) -> None:
    job = uid("bad")
    create_trainer(api, job)
    resp = api.post(f"/_local/v1/accounts/{ACCOUNT}/rlorTrainerJobs/{job}/snapshots", json={"name": "s", **body})
    assert resp.status_code == 400 and needle in resp.json()["message"], resp.text
    first_delta = api.post(f"/_local/v1/accounts/{ACCOUNT}/rlorTrainerJobs/{job}/snapshots",
                           json={"name": "d", "checkpointType": "delta"})
    assert first_delta.status_code == 400 and "no base snapshot" in first_delta.json()["message"]


def test_a_delta_needs_incremental_metadata_to_hot_load(api: httpx.Client, uid: Callable[[str], str]) -> None:
    job, dep = uid("fp"), uid("d")
    create_trainer(api, job)
    create_deployment(api, dep, trainer=job)
    base = save(api, job, "step-1", session=True)["identity"]
    delta = save(api, job, "step-2", session=True)["identity"]
    api.post(HOTLOAD, headers=hotload_headers(dep), json={"identity": base}).raise_for_status()
    assert served(api, dep, base)["current_snapshot_identity"] == base
    refused = api.post(HOTLOAD, headers=hotload_headers(dep), json={"identity": delta})
    assert refused.status_code == 400 and "incremental_snapshot_metadata" in refused.json()["message"]
    assert base in refused.json()["message"]  # names the base it was computed against
    assert served(api, dep, base)["current_snapshot_identity"] == base  # refused: nothing changed
    # as the SDK sends it (``_snapshot_chain.build_incremental_metadata``)
    from fireworks.training.sdk import DeploymentManager

    deployments = DeploymentManager(api_key=KEY, base_url=str(api.base_url))
    metadata = {"previous_snapshot_identity": base, "compression_format": "arc_v2", "checksum_format": "alder32"}
    deployments.hotload(dep, QWEN8B, delta, incremental_snapshot_metadata=metadata)
    assert served(api, dep, delta)["current_snapshot_identity"] == delta


def test_lora_hot_loads_report_loaded_adapters(server: LocalServer, api: httpx.Client, fast_sdk: None,
                                               uid: Callable[[str], str]) -> None:
    job, dep = uid("lora"), uid("d")
    create_trainer(api, job, shape=LORA_SHAPE, trainingConfig={"loraRank": 16})
    create_deployment(api, dep, trainer=job)
    first = save(api, job, "step-1", session=True)["identity"]
    second = save(api, job, "step-2", session=True)["identity"]
    rows = checkpoints(api, job)
    assert {r["checkpointType"] for r in rows.values()} == {"CHECKPOINT_TYPE_INFERENCE_LORA"}
    assert all(r["promotable"] for r in rows.values())  # adapters are standalone: never deltas
    api.post(HOTLOAD, headers=hotload_headers(dep), json={"identity": first}).raise_for_status()
    replica = served(api, dep, first)
    assert replica["loaded_adapters"] == [{"identity": first, "status": "loaded"}]
    assert replica["current_snapshot_identity"] == first

    # a backend that loads adapters beside the base reports them only in loaded_adapters
    api.put("/_local/v1/switches", json={"adapterStatus": "loaded-adapters"}).raise_for_status()
    from fireworks.training.sdk import DeploymentManager

    deployments = DeploymentManager(api_key=KEY, base_url=server.url)
    assert deployments.hotload_and_wait(dep, QWEN8B, second, timeout_seconds=30)
    replica = served(api, dep, second)
    assert replica["current_snapshot_identity"] == first and replica["readiness"] is True
    assert replica["loaded_adapters"] == [{"identity": second, "status": "loaded"}]
