"""The provider: wire mapping both ways, protocol mechanics, and the local control plane end to end.

Protocol mechanics (retries, Retry-After, 409 handling, error parsing, secret redaction) are tested
at httpx's transport seam with ``httpx.MockTransport``; the behaviour against a real server is
tested against ``reconciler.local`` through ``httpx.ASGITransport`` (see the end of this file).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest

import reconciler.local as local_plane
from reconciler.model.remote import DeploymentConfig, TrainerConfig
from reconciler.provider import (
    AuthError,
    Conflict,
    FireworksProvider,
    NotFound,
    Provider,
    ProviderError,
    ValidationError,
    _wire,
    resolve_endpoint,
)

KEY = "sk-very-secret-key-1234567890"
BASE = "http://127.0.0.1:9"
ACCOUNT = "acme"
Handler = Callable[[httpx.Request], Any]


def run(coro: Any) -> Any:
    return asyncio.run(coro)


class Server:
    """A scripted MockTransport: routes by (method, path), records every request."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.routes: dict[tuple[str, str], Any] = {
            ("GET", "/v1/accounts"): httpx.Response(200, json={"accounts": [{"name": f"accounts/{ACCOUNT}"}]})
        }

    def on(self, method: str, path: str, *responses: Any) -> None:
        self.routes[(method, path)] = list(responses) if len(responses) > 1 else responses[0]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        route = self.routes.get((request.method, request.url.path))
        if route is None:
            return httpx.Response(404, json={"error": {"message": f"no route {request.url.path}"}})
        if isinstance(route, list):
            route = route.pop(0) if len(route) > 1 else route[0]
        if callable(route):
            route = route(request)
        if isinstance(route, Exception):
            raise route
        return route

    def calls(self, method: str | None = None) -> list[httpx.Request]:
        return [
            r
            for r in self.requests
            if (method is None or r.method == method) and r.url.path != "/v1/accounts"
        ]


def provider(server: Handler, **kw: Any) -> FireworksProvider:
    p = FireworksProvider(BASE, KEY, transport=httpx.MockTransport(server), **kw)
    delays: list[float] = []
    now = [0.0]

    async def fake_sleep(delay: float) -> None:
        delays.append(delay)
        now[0] += delay

    p._sleep = fake_sleep
    p._clock = lambda: now[0]
    p.delays = delays  # type: ignore[attr-defined]
    return p


def query(request: httpx.Request) -> list[tuple[str, str]]:
    return parse_qsl(request.url.query.decode(), keep_blank_values=True)


def body(request: httpx.Request) -> Any:
    return json.loads(request.content) if request.content else None


def job_json(job_id: str = "j1", state: str = "JOB_STATE_CREATING", **extra: Any) -> dict[str, Any]:
    return {
        "name": f"accounts/{ACCOUNT}/rlorTrainerJobs/{job_id}",
        "state": state,
        "trainingConfig": {"baseModel": "accounts/fireworks/models/qwen3-8b", "loraRank": 16},
        **extra,
    }


def dep_json(dep_id: str = "d1", state: str = "CREATING", **extra: Any) -> dict[str, Any]:
    return {"name": f"accounts/{ACCOUNT}/deployments/{dep_id}", "state": state, "baseModel": "m", **extra}


# -- wire mapping -----------------------------------------------------------------------------


def test_trainer_from_wire_reads_every_field() -> None:
    job = _wire.trainer_job_from_wire(
        {
            "name": "accounts/acme/rlorTrainerJobs/policy-1",
            "state": "JOB_STATE_RUNNING",
            "status": {"code": "OK", "message": "all good"},
            "trainingShape": "accounts/fireworks/trainingShapes/qwen3-8b/versions/v3",
            "nodeCount": 2,
            "trainerReplicaCount": "3",
            "displayName": "policy",
            "inactivityTimeout": "3600s",
            "forwardOnly": True,
            "hotLoadDeploymentId": "dep-1",
            "createTime": "2025-01-02T03:04:05.123456789Z",
            "someFutureField": {"x": 1},
            "trainingConfig": {
                "baseModel": "accounts/fireworks/models/qwen3-8b",
                "loraRank": 32,
                "learningRate": 2e-5,
                "maxContextLength": 8192,
                "acceleratorType": "NVIDIA_H200_141GB",
                "acceleratorCount": 8,
                "region": "US_VIRGINIA_1",
                "unknown": True,
            },
        }
    )
    assert job.job_id == "policy-1"
    assert job.running and job.status_message == "all good"
    assert job.create_time is not None and job.create_time.microsecond == 123456
    c = job.config
    assert (c.base_model, c.lora_rank, c.learning_rate) == ("accounts/fireworks/models/qwen3-8b", 32, 2e-5)
    assert c.training_shape == "accounts/fireworks/trainingShapes/qwen3-8b/versions/v3"
    assert (c.accelerator_type, c.accelerator_count, c.node_count) == ("NVIDIA_H200_141GB", 8, 2)
    assert (c.max_context_length, c.replica_count, c.region) == (8192, 3, "US_VIRGINIA_1")
    assert (c.display_name, c.inactivity_timeout, c.forward_only) == ("policy", 3600, True)
    assert c.hot_load_deployment_id == "dep-1"


def test_trainer_from_wire_tolerates_a_sparse_job() -> None:
    job = _wire.trainer_job_from_wire(
        {"name": "accounts/a/rlorTrainerJobs/x", "statusMessage": "Warning: hi"}
    )
    assert job.state == "JOB_STATE_UNSPECIFIED"
    assert job.status_message == "Warning: hi"
    assert job.config == TrainerConfig(base_model="")


@pytest.mark.parametrize(
    "payload, expected",
    [
        ({"message": "m1"}, "m1"),
        ({"status": {"statusMessage": "m2"}}, "m2"),
        ({"status": {"detail": "m3"}}, "m3"),
        ({"status": "plain"}, "plain"),
        ({"status": {"code": 3}}, ""),
    ],
)
def test_status_message_lookup(payload: dict[str, Any], expected: str) -> None:
    assert _wire.status_message(payload) == expected


def test_inactivity_duration_both_ways() -> None:
    assert _wire.format_duration(1800) == "1800s"
    assert _wire.format_duration(0.5) == "0.5s"
    assert _wire.parse_duration_s("1800s") == 1800
    assert _wire.parse_duration_s("0.5s") == 0  # whole seconds in our model
    assert _wire.parse_duration_s("bogus") is None


SHAPE = "accounts/fireworks/trainingShapes/qwen3-8b-128k-lora"


def test_trainer_create_shape_path() -> None:
    config = TrainerConfig(
        base_model="m",
        lora_rank=16,
        learning_rate=1e-4,
        training_shape=SHAPE,
        max_context_length=4096,
        replica_count=2,
        display_name="policy",
        inactivity_timeout=1800,
        region="US_VIRGINIA_1",
    )
    q, b = _wire.trainer_create_request("j1", config)
    assert parse_qsl(q) == [("trainingShape", SHAPE), ("rlorTrainerJobId", "j1")]
    assert "accounts%2Ffireworks" in q  # percent-encoded like the SDK's urlencode
    assert b == {
        "serviceMode": True,
        "keepAlive": False,
        "dataset": "",
        "trainingConfig": {"baseModel": "m", "loraRank": 16, "learningRate": 1e-4, "region": "US_VIRGINIA_1"},
        "trainerReplicaCount": 2,
        "useReservation": True,
        "displayName": "policy",
        "inactivityTimeout": "1800s",
    }


def test_trainer_create_manual_path() -> None:
    config = TrainerConfig(
        base_model="m", accelerator_type="NVIDIA_H100_80GB", accelerator_count=8, max_context_length=4096
    )
    q, b = _wire.trainer_create_request("j1", config)
    assert parse_qsl(q) == [("skipValidations", "true"), ("rlorTrainerJobId", "j1")]
    assert b["nodeCount"] == 1
    assert b["trainingConfig"] == {
        "baseModel": "m",
        "loraRank": 0,
        "learningRate": 1e-5,
        "maxContextLength": 4096,
        "acceleratorType": "NVIDIA_H100_80GB",
        "acceleratorCount": 8,
    }


def test_trainer_create_auto_path_forward_only_per_deployment() -> None:
    config = TrainerConfig(
        base_model="m", forward_only=True, hot_load_deployment_id="dep-1", max_context_length=2048
    )
    q, b = _wire.trainer_create_request("ref-1", config)
    assert parse_qsl(q) == [("deploymentId", "dep-1"), ("rlorTrainerJobId", "ref-1")]
    assert b["forwardOnly"] is True and b["hotLoadDeploymentId"] == "dep-1"
    assert "nodeCount" not in b and "trainerReplicaCount" not in b
    assert b["trainingConfig"]["maxContextLength"] == 2048
    assert "forwardOnly" not in _wire.trainer_create_request("x", TrainerConfig(base_model="m"))[1]


def test_trainer_create_refuses_shape_plus_infra() -> None:
    with pytest.raises(ValueError, match="training shape"):
        _wire.trainer_create_request("j", TrainerConfig(base_model="m", training_shape=SHAPE, node_count=2))


def _echo_job(job_id: str, q: str, b: dict[str, Any]) -> dict[str, Any]:
    """What a platform stores from a create: the body, plus trainingShape from the query."""
    stored = {"name": f"accounts/acme/rlorTrainerJobs/{job_id}", "state": "JOB_STATE_CREATING", **b}
    shape = dict(parse_qsl(q)).get("trainingShape")
    if shape:
        stored["trainingShape"] = shape
    return stored


@pytest.mark.parametrize(
    "config",
    [
        TrainerConfig(
            base_model="m",
            lora_rank=8,
            training_shape=SHAPE,
            replica_count=2,
            display_name="p",
            inactivity_timeout=600,
            region="EU_1",
        ),
        TrainerConfig(
            base_model="m", accelerator_type="A", accelerator_count=4, node_count=2, max_context_length=1024
        ),
        TrainerConfig(base_model="m", forward_only=True, hot_load_deployment_id="d"),
    ],
)
def test_trainer_config_round_trips_through_the_wire(config: TrainerConfig) -> None:
    q, b = _wire.trainer_create_request("j", config)
    assert _wire.trainer_job_from_wire(_echo_job("j", q, b)).config == config


def test_deployment_from_wire() -> None:
    info = _wire.deployment_from_wire(
        {
            "name": "accounts/acme/deployments/serve-1",
            "state": "READY",
            "baseModel": "accounts/fireworks/models/qwen3-8b",
            "deploymentShape": "accounts/fireworks/deploymentShapes/s/versions/v1",
            "minReplicaCount": 1,
            "maxReplicaCount": "2",
            "replicaCount": 1,
            "placement": {"region": "US_OHIO_1"},
            "enableHotLoad": True,
            "hotLoadBucketType": "FW_HOSTED",
            "hotLoadBucketUrl": "gs://b/rl-checkpoints/acme/x/",
            "hot_load_trainer_job": "accounts/acme/rlorTrainerJobs/j1",
            "hotLoadTransitionType": "HOT_LOAD_TRANSITION_TYPE_UNSPECIFIED",
            "annotations": {"team": "rl"},
            "description": "d",
            "status": {"code": "OK", "message": ""},
        }
    )
    assert info.deployment_id == "serve-1" and info.ready and info.replica_count == 1
    c = info.config
    assert c.deployment_shape == "accounts/fireworks/deploymentShapes/s/versions/v1"
    assert (c.min_replicas, c.max_replicas, c.region) == (1, 2, "US_OHIO_1")
    assert c.hot_load_enabled and c.hot_load_bucket_type == "FW_HOSTED"
    assert c.hot_load_trainer_job == "accounts/acme/rlorTrainerJobs/j1"
    assert c.hot_load_transition is None
    assert c.annotations == {"team": "rl"} and c.description == "d"
    # proto-JSON omits zeros: a deployment scaled to zero has no replica counts at all
    zero = _wire.deployment_from_wire(
        {"name": "accounts/a/deployments/z", "region": "R", "hotLoadTransitionType": "sync"}
    )
    assert (zero.config.min_replicas, zero.config.max_replicas, zero.replica_count) == (0, 0, 0)
    assert zero.config.region == "R" and zero.config.hot_load_transition == "SYNC"
    assert zero.state == "UNKNOWN"


def test_deployment_create_request() -> None:
    config = DeploymentConfig(
        base_model="m",
        deployment_shape="accounts/fireworks/deploymentShapes/s",
        min_replicas=1,
        max_replicas=2,
        region="US_OHIO_1",
        hot_load_transition="SYNC",
        hot_load_trainer_job="accounts/acme/rlorTrainerJobs/j1",
        annotations={"a": "b"},
    )
    q, b = _wire.deployment_create_request("dep-1", config)
    assert q == "deploymentId=dep-1"
    assert b == {
        "baseModel": "m",
        "description": "Fireworks training deployment",
        "minReplicaCount": 1,
        "maxReplicaCount": 2,
        "enableHotLoad": True,
        "forTraining": False,
        "placement": {"region": "US_OHIO_1"},
        "hotLoadBucketType": "FW_HOSTED",
        "hotLoadTrainerJob": "accounts/acme/rlorTrainerJobs/j1",
        "hotLoadTransitionType": "SYNC",
        "deploymentShape": "accounts/fireworks/deploymentShapes/s",
        "annotations": {"a": "b"},
    }
    shapeless = DeploymentConfig(
        base_model="m",
        accelerator_type="NVIDIA_H100_80GB",
        accelerator_count=2,
        accept_shapeless_risk=True,
        hot_load_bucket_type=None,
        description="mine",
    )
    q, b = _wire.deployment_create_request("dep-2", shapeless)
    assert q == "deploymentId=dep-2&acceptShapelessRisk=true"
    assert b["acceleratorType"] == "NVIDIA_H100_80GB" and b["acceleratorCount"] == 2
    assert "hotLoadBucketType" not in b and "deploymentShape" not in b and b["description"] == "mine"
    with pytest.raises(ValueError):
        _wire.deployment_create_request("x", config.model_copy(update={"accept_shapeless_risk": True}))


def test_deployment_config_round_trips_through_the_wire() -> None:
    config = DeploymentConfig(
        base_model="m",
        deployment_shape="accounts/f/deploymentShapes/s/versions/1",
        min_replicas=1,
        max_replicas=3,
        region="R",
        hot_load_transition="ASYNC",
        hot_load_trainer_job="accounts/a/rlorTrainerJobs/j",
        description="d",
        annotations={"k": "v"},
    )
    _, b = _wire.deployment_create_request("d", config)
    assert _wire.deployment_from_wire({"name": "accounts/a/deployments/d", **b}).config == config


def test_deployment_update_request() -> None:
    mask, b = _wire.deployment_update_request(
        {"max_replicas": 2, "min_replicas": 1, "hot_load_trainer_job": None, "annotations": {"x": "y"}}
    )
    assert mask == "min_replica_count,max_replica_count,hot_load_trainer_job,annotations"
    assert b == {
        "minReplicaCount": 1,
        "maxReplicaCount": 2,
        "hotLoadTrainerJob": "",
        "annotations": {"x": "y"},
    }
    mask, b = _wire.deployment_update_request({"hot_load_transition": "SYNC", "description": "new"})
    assert mask == "hot_load_transition_type,description"
    assert b == {"hotLoadTransitionType": "SYNC", "description": "new"}
    with pytest.raises(ValueError, match="base_model"):
        _wire.deployment_update_request({"base_model": "other"})
    with pytest.raises(ValueError):
        _wire.deployment_update_request({})


def test_shape_versions_from_wire() -> None:
    tsv = _wire.training_shape_version_from_wire(
        {
            "name": "accounts/fireworks/trainingShapes/s/versions/v2",
            "snapshot": {
                "acceleratorType": "H",
                "acceleratorCount": 8,
                "nodeCount": 2,
                "trainerMode": "LORA_TRAINER",
                "maxSupportedContextLength": 32768,
                "deploymentShapeVersion": "accounts/f/deploymentShapes/d/versions/1",
                "baseModel": "m",
            },
        }
    )
    assert tsv.shape == "accounts/fireworks/trainingShapes/s"
    assert (tsv.accelerator_type, tsv.accelerator_count, tsv.node_count) == ("H", 8, 2)
    assert (tsv.trainer_mode, tsv.max_context_length, tsv.base_model) == ("LORA_TRAINER", 32768, "m")
    assert tsv.deployment_shape_version == "accounts/f/deploymentShapes/d/versions/1"
    empty = _wire.training_shape_version_from_wire({"name": "n", "snapshot": {"trainerMode": ""}})
    assert (empty.trainer_mode, empty.node_count, empty.accelerator_count) == ("POLICY_TRAINER", 1, None)
    dsv = _wire.deployment_shape_version_from_wire(
        {"name": "x/versions/1", "snapshot": {"acceleratorType": "A", "acceleratorCount": 2}}
    )
    assert (dsv.accelerator_type, dsv.accelerator_count) == ("A", 2)


def test_hot_load_status_from_wire() -> None:
    status = _wire.hot_load_status_from_wire(
        {
            "replicas": [
                {
                    "identity": "pod-0",
                    "current_snapshot_identity": "snap-2",
                    "readiness": True,
                    "loading_state": {
                        "stage": "error",
                        "target_snapshot_identity": "snap-3",
                        "message": "oom",
                    },
                }
            ]
        }
    )
    assert status.current_snapshot == "snap-2"
    r = status.replicas[0]
    assert (r.identity, r.readiness, r.stage, r.target_snapshot, r.message) == (
        "pod-0",
        True,
        "error",
        "snap-3",
        "oom",
    )
    assert _wire.hot_load_status_from_wire({"replicas": [{}]}).replicas[0].stage == "unknown"
    assert _wire.hot_load_status_from_wire({"replicas": []}).current_snapshot is None
    with pytest.raises(ValueError):
        _wire.hot_load_status_from_wire({"status": "ok"})


@pytest.mark.parametrize(
    "body, text, expected",
    [
        ({"error": {"message": "bad shape", "code": 3}}, "", "bad shape"),
        ({"code": 3, "message": "grpc style"}, "", "grpc style"),
        ({"error": "not found"}, "", "not found"),
        (None, "  <html>" + "x" * 300, "<html>" + "x" * 194),
    ],
)
def test_parse_api_error(body: Any, text: str, expected: str) -> None:
    assert _wire.parse_api_error(body, text) == expected


# -- protocol mechanics -----------------------------------------------------------------------


def test_is_a_provider() -> None:
    p: Provider = FireworksProvider(BASE, KEY)
    assert repr(p) == f"FireworksProvider(base_url='{BASE}')"
    run(p.aclose())  # type: ignore[attr-defined]


def test_headers_and_account_resolution_is_cached() -> None:
    server = Server()
    server.on("GET", f"/v1/accounts/{ACCOUNT}/rlorTrainerJobs/j1", httpx.Response(200, json=job_json()))

    async def go() -> None:
        async with provider(server) as p:
            await asyncio.gather(p.get_trainer_job("j1"), p.get_trainer_job("j1"), p.account_id())

    run(go())
    accounts = [r for r in server.requests if r.url.path == "/v1/accounts"]
    assert len(accounts) == 1 and accounts[0].url.query == b"pageSize=2"
    for request in server.requests:
        assert request.headers["x-api-key"] == KEY
        assert request.headers["content-type"] == "application/json"
        assert "authorization" not in request.headers


@pytest.mark.parametrize("accounts", [[], [{"name": "accounts/a"}, {"name": "accounts/b"}]])
def test_account_must_be_exactly_one(accounts: list[dict[str, str]]) -> None:
    server = Server()
    server.on("GET", "/v1/accounts", httpx.Response(200, json={"accounts": accounts}))

    async def go() -> None:
        async with provider(server) as p:
            await p.account_id()

    with pytest.raises(ProviderError, match="account"):
        run(go())


def test_retries_transient_statuses_with_jittered_backoff() -> None:
    server = Server()
    path = f"/v1/accounts/{ACCOUNT}/deployments/d1"
    server.on(
        "GET",
        path,
        httpx.Response(503),
        httpx.Response(429),
        httpx.Response(502),
        httpx.Response(200, json=dep_json()),
    )

    async def go() -> FireworksProvider:
        async with provider(server) as p:
            assert (await p.get_deployment("d1")) is not None
            return p

    p = run(go())
    assert p.requests == 5 and p.retries == 3  # 1 account + 4 attempts
    delays = p.delays  # type: ignore[attr-defined]
    assert len(delays) == 3
    for attempt, delay in enumerate(delays):
        assert 0 <= delay <= min(8.0, 0.2 * 2**attempt)


def test_retry_after_is_honoured() -> None:
    server = Server()
    path = f"/v1/accounts/{ACCOUNT}/deployments/d1"
    server.on(
        "GET", path, httpx.Response(429, headers={"Retry-After": "3"}), httpx.Response(200, json=dep_json())
    )

    async def go() -> FireworksProvider:
        async with provider(server) as p:
            await p.get_deployment("d1")
            return p

    assert run(go()).delays == [3.0]  # type: ignore[attr-defined]


def test_retry_budget_exhausted_surfaces_the_last_status() -> None:
    server = Server()
    path = f"/v1/accounts/{ACCOUNT}/deployments/d1"
    server.on("GET", path, httpx.Response(503, headers={"Retry-After": "5"}, json={"message": "overloaded"}))

    async def go() -> None:
        async with provider(server, retry_budget_s=12) as p:
            await p.get_deployment("d1")

    with pytest.raises(ProviderError) as caught:
        run(go())
    assert caught.value.status == 503 and caught.value.retryable
    assert "overloaded" in str(caught.value) and "d1" in str(caught.value)
    assert len(server.calls()) == 3  # 0 s, +5 s, +10 s; the next wait would pass 12 s


def test_connection_errors_are_retried_then_translated() -> None:
    server = Server()
    path = f"/v1/accounts/{ACCOUNT}/deployments/d1"
    server.on(
        "GET",
        path,
        httpx.ConnectError("refused"),
        httpx.ReadError("reset"),
        httpx.Response(200, json=dep_json()),
    )

    async def ok() -> None:
        async with provider(server) as p:
            assert await p.get_deployment("d1") is not None

    run(ok())
    server.on("GET", path, httpx.ConnectError("refused"))

    async def down() -> FireworksProvider:
        async with provider(server, retry_budget_s=0.5) as p:
            await p.get_deployment("d1")
            return p

    with pytest.raises(ProviderError, match="ConnectError") as caught:
        run(down())
    assert caught.value.retryable and caught.value.status is None
    assert not isinstance(caught.value, httpx.HTTPError)


def test_non_retryable_statuses_are_not_retried() -> None:
    server = Server()
    server.on(
        "POST",
        f"/v1/accounts/{ACCOUNT}/deployments",
        httpx.Response(400, json={"error": {"message": "deploymentShape not found"}}),
    )

    async def go() -> None:
        async with provider(server) as p:
            await p.create_deployment("d1", DeploymentConfig(base_model="m"))

    with pytest.raises(ValidationError, match="deploymentShape not found") as caught:
        run(go())
    assert caught.value.status == 400 and not caught.value.retryable
    assert len(server.calls()) == 1


def test_bounded_concurrency() -> None:
    in_flight = 0
    peak = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        if request.url.path == "/v1/accounts":
            return httpx.Response(200, json={"accounts": [{"name": "accounts/acme"}]})
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        return httpx.Response(200, json=dep_json())

    async def go() -> None:
        async with FireworksProvider(
            BASE, KEY, transport=httpx.MockTransport(handler), max_concurrency=3
        ) as p:
            await asyncio.gather(*(p.get_deployment(f"d{i}") for i in range(20)))

    run(go())
    assert peak == 3


def test_trainer_create_409_is_idempotent() -> None:
    server = Server()
    base = f"/v1/accounts/{ACCOUNT}/rlorTrainerJobs"
    server.on("POST", base, httpx.Response(503), httpx.Response(409, json={"error": {"message": "exists"}}))
    server.on("GET", f"{base}/j1", httpx.Response(200, json=job_json(state="JOB_STATE_PENDING")))

    async def go() -> Any:
        async with provider(server) as p:
            return await p.create_trainer_job("j1", TrainerConfig(base_model="m", training_shape=SHAPE))

    job = run(go())
    assert job.job_id == "j1" and job.state == "JOB_STATE_PENDING"
    post = server.calls("POST")[0]
    assert query(post) == [("trainingShape", SHAPE), ("rlorTrainerJobId", "j1")]
    assert body(post)["serviceMode"] is True


def test_trainer_create_409_on_a_tombstone_is_permanent() -> None:
    server = Server()
    base = f"/v1/accounts/{ACCOUNT}/rlorTrainerJobs"
    server.on("POST", base, httpx.Response(409, json={"error": {"message": "exists"}}))
    server.on("GET", f"{base}/j1", httpx.Response(200, json=job_json(state="JOB_STATE_DELETED")))

    async def go() -> None:
        async with provider(server) as p:
            await p.create_trainer_job("j1", TrainerConfig(base_model="m"))

    with pytest.raises(ProviderError, match="cannot be reused") as caught:
        run(go())
    assert not caught.value.retryable


def test_trainer_create_409_without_a_job_is_a_conflict() -> None:
    server = Server()
    server.on(
        "POST", f"/v1/accounts/{ACCOUNT}/rlorTrainerJobs", httpx.Response(409, json={"message": "busy"})
    )

    async def go() -> None:
        async with provider(server) as p:
            await p.create_trainer_job("j1", TrainerConfig(base_model="m"))

    with pytest.raises(Conflict, match="busy"):
        run(go())


def test_deployment_create_409_returns_the_existing_one() -> None:
    server = Server()
    server.on("POST", f"/v1/accounts/{ACCOUNT}/deployments", httpx.Response(409))
    server.on(
        "GET", f"/v1/accounts/{ACCOUNT}/deployments/d1", httpx.Response(200, json=dep_json(state="READY"))
    )

    async def go() -> Any:
        async with provider(server) as p:
            return await p.create_deployment(
                "d1", DeploymentConfig(base_model="m", accept_shapeless_risk=True)
            )

    assert run(go()).ready
    post = server.calls("POST")[0]
    assert post.url.query == b"deploymentId=d1&acceptShapelessRisk=true"


def test_update_deployment_sends_one_patch_with_a_mask() -> None:
    server = Server()
    server.on(
        "PATCH",
        f"/v1/accounts/{ACCOUNT}/deployments/d1",
        httpx.Response(200, json=dep_json(state="UPDATING")),
    )

    async def go() -> Any:
        async with provider(server) as p:
            return await p.update_deployment("d1", {"max_replicas": 2, "hot_load_trainer_job": None})

    assert run(go()).state == "UPDATING"
    (patch,) = server.calls("PATCH")
    assert query(patch) == [("updateMask", "max_replica_count,hot_load_trainer_job")]
    assert b"%2C" in patch.url.query  # httpx percent-encodes the comma, as for the SDK
    assert body(patch) == {"maxReplicaCount": 2, "hotLoadTrainerJob": ""}


def test_deletes_tolerate_404_and_send_the_sdk_flags() -> None:
    server = Server()

    async def go() -> None:
        async with provider(server) as p:
            await p.delete_trainer_job("gone")
            await p.delete_deployment("gone")

    run(go())
    dep_delete = server.calls("DELETE")[1]
    assert dep_delete.url.query == b"ignoreChecks=true&hard=true"
    server.on("DELETE", f"/v1/accounts/{ACCOUNT}/deployments/x", httpx.Response(500, text="boom"))

    async def fail() -> None:
        async with provider(server, retry_budget_s=0) as p:
            await p.delete_deployment("x")

    with pytest.raises(ProviderError, match="boom"):
        run(fail())


def test_resume_posts_then_reads() -> None:
    server = Server()
    base = f"/v1/accounts/{ACCOUNT}/rlorTrainerJobs/j1"
    server.on("POST", f"{base}:resume", httpx.Response(200, json={}))
    server.on("GET", base, httpx.Response(200, json=job_json(state="JOB_STATE_PENDING")))

    async def go() -> Any:
        async with provider(server) as p:
            return await p.resume_trainer_job("j1")

    assert run(go()).state == "JOB_STATE_PENDING"
    assert [r.method for r in server.calls()] == ["POST", "GET"]
    assert server.calls("POST")[0].content == b""


def test_pagination_follows_next_page_token() -> None:
    server = Server()
    pages = {
        "": {"deployments": [dep_json("a"), dep_json("b")], "nextPageToken": "t1"},
        "t1": {"deployments": [dep_json("c")], "nextPageToken": "t2"},
        "t2": {"deployments": [], "nextPageToken": ""},
    }
    server.on(
        "GET",
        f"/v1/accounts/{ACCOUNT}/deployments",
        lambda r: httpx.Response(200, json=pages[r.url.params.get("pageToken", "")]),
    )
    ckpts = {
        "": {
            "rlorTrainerJobCheckpoints": [{"name": "accounts/acme/rlorTrainerJobs/j/checkpoints/s1"}],
            "next_page_token": "n",
        },
        "n": {
            "checkpoints": [
                {
                    "name": "accounts/acme/rlorTrainerJobs/j/checkpoints/s2",
                    "checkpointType": "CHECKPOINT_TYPE_INFERENCE_LORA",
                }
            ]
        },
    }
    server.on(
        "GET",
        f"/v1/accounts/{ACCOUNT}/rlorTrainerJobs/j/checkpoints",
        lambda r: httpx.Response(200, json=ckpts[r.url.params.get("pageToken", "")]),
    )

    async def go() -> tuple[Any, Any]:
        async with provider(server) as p:
            return await p.list_deployments(), await p.list_checkpoints("j")

    deployments, checkpoints = run(go())
    assert [d.deployment_id for d in deployments] == ["a", "b", "c"]
    assert [c.snapshot for c in checkpoints] == ["s1", "s2"]
    assert checkpoints[1].checkpoint_type == "CHECKPOINT_TYPE_INFERENCE_LORA"
    ckpt_requests = [r for r in server.calls() if r.url.path.endswith("/checkpoints")]
    assert dict(query(ckpt_requests[0])) == {"pageSize": "200"}
    assert dict(query(ckpt_requests[1])) == {"pageSize": "200", "pageToken": "n"}


def test_trainer_gateway_and_healthz() -> None:
    server = Server()
    hz = f"/training/v1/rlorTrainerJobs/{ACCOUNT}/j1/api/v1/healthz"
    server.on("GET", hz, httpx.Response(200, json={}))

    async def go() -> tuple[str, bool]:
        async with provider(server, gateway_url="http://127.0.0.1:10/") as p:
            return await p.trainer_gateway_url("j1"), await p.trainer_healthy("j1")

    url, healthy = run(go())
    assert url == f"http://127.0.0.1:10/training/v1/rlorTrainerJobs/{ACCOUNT}/j1" and healthy
    probe = server.calls()[0]
    assert probe.headers["authorization"] == f"Bearer {KEY}" and probe.headers["x-api-key"] == KEY
    assert probe.extensions["timeout"]["read"] == 5.0

    for outcome in (httpx.Response(503), httpx.Response(204), httpx.ConnectError("down")):
        server.requests.clear()
        server.on("GET", hz, outcome)

        async def probe_once() -> bool:
            async with provider(server) as p:
                return await p.trainer_healthy("j1")

        assert run(probe_once()) is False
        assert len(server.calls()) == 1  # never retried


def test_shape_resolution() -> None:
    server = Server()
    server.on(
        "GET",
        "/v1/accounts/fireworks/trainingShapes/s/versions",
        httpx.Response(
            200, json={"trainingShapeVersions": [{"name": "accounts/fireworks/trainingShapes/s/versions/v7"}]}
        ),
    )
    server.on(
        "GET",
        "/v1/accounts/fireworks/trainingShapes/s/versions/v3",
        httpx.Response(200, json={"name": "accounts/fireworks/trainingShapes/s/versions/v3"}),
    )
    server.on(
        "GET",
        "/v1/accounts/fireworks/deploymentShapes/d/versions",
        httpx.Response(200, json={"deploymentShapeVersions": []}),
    )

    async def go() -> tuple[Any, Any]:
        async with provider(server) as p:
            latest = await p.get_training_shape_version("accounts/fireworks/trainingShapes/s")
            pinned = await p.get_training_shape_version("accounts/fireworks/trainingShapes/s/versions/v3")
            with pytest.raises(NotFound):
                await p.get_deployment_shape_version("accounts/fireworks/deploymentShapes/d")
            with pytest.raises(ValidationError, match="expected accounts"):
                await p.get_training_shape_version("qwen3-8b-short-id")
            return latest, pinned

    latest, pinned = run(go())
    assert latest.name.endswith("/v7") and pinned.name.endswith("/v3")
    first = server.requests[0]
    assert first.url.query == b"filter=latest_validated%3Dtrue&pageSize=1"


def test_hot_load_headers_body_and_old_gateway_fallback() -> None:
    server = Server()
    server.on(
        "POST",
        "/hot_load/v1/models/hot_load",
        httpx.Response(400, json={"detail": "reset_prompt_cache: Extra inputs are not permitted"}),
        httpx.Response(200, json={}),
    )
    server.on(
        "GET",
        "/hot_load/v1/models/hot_load",
        httpx.Response(200, json={"replicas": [{"current_snapshot_identity": "s1", "readiness": True}]}),
    )

    async def go() -> Any:
        async with provider(server, hotload_url="http://127.0.0.1:11") as p:
            await p.hot_load("d1", "accounts/fireworks/models/m", "s1")
            await p.hot_load("d1", "accounts/fireworks/models/m", "s2")
            return await p.hot_load_status("d1", "accounts/fireworks/models/m")

    status = run(go())
    assert status.current_snapshot == "s1" and status.replicas[0].readiness
    posts = server.calls("POST")
    assert [body(r) for r in posts] == [
        {"identity": "s1", "reset_prompt_cache": True},
        {"identity": "s1"},
        {"identity": "s2"},
    ]
    for request in server.calls():
        assert request.url.host == "127.0.0.1" and request.url.port == 11
        assert request.headers["fireworks-model"] == "accounts/fireworks/models/m"
        assert request.headers["fireworks-deployment"] == f"accounts/{ACCOUNT}/deployments/d1"
        assert request.headers["authorization"] == f"Bearer {KEY}"


def test_hot_load_status_with_an_unknown_shape_is_an_error() -> None:
    server = Server()
    server.on("GET", "/hot_load/v1/models/hot_load", httpx.Response(200, json={"ok": True}))

    async def go() -> None:
        async with provider(server) as p:
            await p.hot_load_status("d1", "m")

    with pytest.raises(ProviderError, match="replicas"):
        run(go())


# -- secrets ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "status, exc_type", [(401, AuthError), (403, AuthError), (400, ValidationError), (500, ProviderError)]
)
def test_the_api_key_never_appears_in_errors_or_logs(
    status: int, exc_type: type[ProviderError], caplog: pytest.LogCaptureFixture
) -> None:
    server = Server()
    # A hostile server that echoes the key back in its error message.
    server.on(
        "GET",
        f"/v1/accounts/{ACCOUNT}/deployments/d1",
        httpx.Response(status, json={"error": {"message": f"bad key {KEY} for you"}}),
    )
    caplog.set_level(logging.DEBUG, logger="fwctl.provider")

    async def go() -> FireworksProvider:
        async with provider(server, retry_budget_s=0) as p:
            try:
                await p.get_deployment("d1")
            finally:
                assert KEY not in repr(p) and KEY not in str(vars(p).get("base_url"))
            return p

    with pytest.raises(exc_type) as caught:
        run(go())
    err = caught.value
    for text in (str(err), repr(err), err.message, caplog.text):
        assert KEY not in text
    assert "***" in str(err)
    if status == 401:
        assert "API key was rejected" in str(err) and "FIREWORKS_API_KEY" in str(err)
    assert "/deployments/d1" in caplog.text


def test_the_api_key_never_appears_in_transport_errors() -> None:
    server = Server()
    server.on(
        "GET", f"/v1/accounts/{ACCOUNT}/deployments/d1", httpx.ConnectError(f"cannot connect with {KEY}")
    )

    async def go() -> None:
        async with provider(server, retry_budget_s=0) as p:
            await p.get_deployment("d1")

    with pytest.raises(ProviderError) as caught:
        run(go())
    assert KEY not in str(caught.value) and KEY not in repr(caught.value)


# -- endpoint selection -----------------------------------------------------------------------


def test_endpoint_precedence() -> None:
    env = {
        "FIREWORKS_API_KEY": KEY,
        "FWCTL_ENDPOINT": "https://env.example",
        "FIREWORKS_BASE_URL": "https://base.example",
    }
    assert (
        resolve_endpoint("https://flag.example/", env, "https://stack.example").url == "https://flag.example"
    )
    assert resolve_endpoint(None, env, "https://stack.example").url == "https://env.example"
    env.pop("FWCTL_ENDPOINT")
    stack = resolve_endpoint(None, env, "https://stack.example")
    assert (stack.kind, stack.url, stack.api_key) == ("remote", "https://stack.example", KEY)
    assert resolve_endpoint(None, env, None).url == "https://base.example"
    env.pop("FIREWORKS_BASE_URL")
    default = resolve_endpoint(None, env, None)
    assert (default.kind, default.url) == ("remote", "https://api.fireworks.ai")
    assert KEY not in repr(default)


def test_endpoint_embedded_without_a_key_or_when_asked() -> None:
    embedded = resolve_endpoint(None, {}, None)
    assert (embedded.kind, embedded.url, embedded.api_key) == ("embedded", "local", "fwctl-local-key")
    assert embedded.embedded
    asked = resolve_endpoint("local", {"FIREWORKS_API_KEY": KEY}, "https://stack.example")
    assert asked.kind == "embedded" and asked.api_key == "fwctl-local-key"  # the real key stays home
    assert resolve_endpoint(None, {"FWCTL_ENDPOINT": "local"}, None).kind == "embedded"


def test_endpoint_plain_http_only_for_loopback() -> None:
    for url in ("http://127.0.0.1:8080", "http://127.3.4.5", "http://localhost:1", "http://[::1]:9"):
        chosen = resolve_endpoint(url, {}, None)
        assert chosen.kind == "remote" and chosen.api_key == "fwctl-local-key"
    assert resolve_endpoint("http://localhost:1", {"FIREWORKS_API_KEY": KEY}, None).api_key == KEY
    for url in ("http://api.fireworks.ai", "http://10.0.0.1:80", "http://192.168.1.1"):
        with pytest.raises(ValueError, match="plain http"):
            resolve_endpoint(url, {"FIREWORKS_API_KEY": KEY}, None)
    with pytest.raises(ValueError, match="plain http"):
        resolve_endpoint(None, {"FIREWORKS_API_KEY": KEY, "FIREWORKS_BASE_URL": "http://example.com"}, None)
    with pytest.raises(ValueError, match="FIREWORKS_API_KEY"):
        resolve_endpoint("https://api.fireworks.ai", {}, None)
    with pytest.raises(ValueError, match="not an http"):
        resolve_endpoint("ftp://x", {"FIREWORKS_API_KEY": KEY}, None)


# -- against the local control plane ----------------------------------------------------------

LOCAL_KEY = "fwctl-local-key"
QWEN = "accounts/fireworks/models/qwen3-8b"
LORA_SHAPE = "accounts/fireworks/trainingShapes/qwen3-8b-128k-lora"
POLICY_SHAPE = "accounts/fireworks/trainingShapes/qwen3-8b-128k-h200"
DEP_SHAPE = "accounts/fireworks/deploymentShapes/rft-qwen3-8b"


class Local:
    """The local control plane in-process, with a clock the test moves."""

    def __init__(self, tmp_path: Any) -> None:
        self.now = 1_750_000_000.0
        # room beyond the documented 16 GPUs per type: a quota 429 is final (issue 13), never waited out
        config = local_plane.LocalConfig(db_path=str(tmp_path / "local.db"), speed=100,
                                         quotas=(("nvidia-h200-141gb", 4096.0),))
        self.app = local_plane.create_app(config, clock=lambda: self.now)

    def provider(self, key: str = LOCAL_KEY, **kw: Any) -> FireworksProvider:
        p = FireworksProvider(
            "http://127.0.0.1:8787", key, transport=httpx.ASGITransport(app=self.app), **kw
        )

        async def no_sleep(delay: float) -> None:
            self.now += delay

        p._sleep = no_sleep
        p._clock = lambda: self.now
        return p

    def advance(self, seconds: float) -> None:
        self.now += seconds

    async def admin(self, method: str, path: str, payload: Any = None) -> httpx.Response:
        transport = httpx.ASGITransport(app=self.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8787") as client:
            return await client.request(method, path, json=payload, headers={"X-Api-Key": LOCAL_KEY})


@pytest.fixture
def local(tmp_path: Any) -> Local:
    return Local(tmp_path)


def test_local_trainer_lifecycle_on_the_shape_path(local: Local) -> None:
    config = TrainerConfig(
        base_model=QWEN,
        lora_rank=16,
        learning_rate=1e-4,
        training_shape=LORA_SHAPE,
        display_name="policy",
        inactivity_timeout=1800,
    )

    async def go() -> None:
        async with local.provider() as p:
            assert await p.account_id() == "fwctl-local"
            job = await p.create_trainer_job("policy-1", config)
            assert job.job_id == "policy-1" and job.name == "accounts/fwctl-local/rlorTrainerJobs/policy-1"
            assert job.state == "JOB_STATE_CREATING"
            # read back: what the public type returns; the shape (a create query parameter) and the
            # inactivity timeout are not returned (the planner compares them with state's last-applied)
            assert job.config.training_shape is None and job.config.inactivity_timeout is None
            assert (job.config.lora_rank, job.config.learning_rate) == (16, 1e-4)
            assert job.config.display_name == "policy"
            assert not await p.trainer_healthy("policy-1")
            local.advance(1.0)
            running = await p.get_trainer_job("policy-1")
            assert running is not None and running.running
            assert await p.trainer_healthy("policy-1")
            assert await p.get_trainer_job("nope") is None

            # 409 -> GET -> the same job (idempotent create)
            again = await p.create_trainer_job("policy-1", config)
            assert again.job_id == "policy-1" and again.running

            # preempted -> resume
            await local.admin("POST", "/_local/v1/faults", {"kind": "preempt", "trainer": "policy-1"})
            failed = await p.get_trainer_job("policy-1")
            assert failed is not None and failed.resumable and "preempted" in failed.status_message
            resumed = await p.resume_trainer_job("policy-1")
            assert not resumed.resumable

            # delete -> tombstone: the id is spent
            await p.delete_trainer_job("policy-1")
            await p.delete_trainer_job("policy-1")  # twice is fine
            await p.delete_trainer_job("never-existed")
            local.advance(1.0)
            assert [j.job_id for j in await p.list_trainer_jobs()] == []
            with pytest.raises(ProviderError, match="cannot be reused") as caught:
                await p.create_trainer_job("policy-1", config)
            assert not caught.value.retryable

    run(go())


def test_local_manual_and_auto_paths_and_validation(local: Local) -> None:
    async def go() -> None:
        async with local.provider("fwctl-local-admin-key") as p:  # skipValidations needs a superuser key
            manual = await p.create_trainer_job(
                "manual-1",
                TrainerConfig(base_model=QWEN, accelerator_type="NVIDIA_H200_141GB", accelerator_count=8),
            )
            assert manual.config.accelerator_count is None and manual.config.node_count == 1  # not returned
            auto = await p.create_trainer_job("ref-1", TrainerConfig(base_model=QWEN, forward_only=True))
            assert auto.config.forward_only
            with pytest.raises(ValidationError) as caught:
                await p.create_trainer_job(
                    "bad-1", TrainerConfig(base_model="accounts/fireworks/models/nope")
                )
            assert caught.value.status == 400

    run(go())


def test_local_list_paginates(local: Local) -> None:
    async def go() -> None:
        async with local.provider() as p:
            await asyncio.gather(
                *(
                    p.create_trainer_job(
                        f"t-{i:03d}", TrainerConfig(base_model=QWEN, training_shape=POLICY_SHAPE)
                    )
                    for i in range(205)
                )
            )
            before = p.requests
            jobs = await p.list_trainer_jobs()
            assert sorted(j.job_id for j in jobs) == [f"t-{i:03d}" for i in range(205)]
            assert p.requests - before == 2  # 200 per page

    run(go())


def test_local_deployment_create_update_delete(local: Local) -> None:
    async def go() -> None:
        async with local.provider() as p:
            trainer = await p.create_trainer_job(
                "pol", TrainerConfig(base_model=QWEN, training_shape=POLICY_SHAPE)
            )
            config = DeploymentConfig(
                base_model=QWEN,
                deployment_shape=DEP_SHAPE,
                min_replicas=1,
                max_replicas=1,
                hot_load_trainer_job=trainer.name,
                annotations={"team": "rl"},
                for_training=True,
            )
            dep = await p.create_deployment("serve-1", config)
            assert dep.state == "CREATING" and dep.config.hot_load_trainer_job == trainer.name
            assert dep.config.deployment_shape is not None and dep.config.deployment_shape.startswith(
                DEP_SHAPE
            )
            again = await p.create_deployment("serve-1", config)  # 409 -> GET
            assert again.deployment_id == "serve-1"
            local.advance(1.0)
            ready = await p.get_deployment("serve-1")
            assert ready is not None and ready.ready and ready.config.annotations == {}  # not returned

            updated = await p.update_deployment("serve-1", {"max_replicas": 2, "hot_load_transition": "SYNC"})
            assert updated.config.max_replicas == 2 and updated.config.hot_load_transition == "SYNC"
            detached = await p.update_deployment("serve-1", {"hot_load_trainer_job": None})
            assert detached.config.hot_load_trainer_job is None
            assert [d.deployment_id for d in await p.list_deployments()] == ["serve-1"]

            await p.delete_deployment("serve-1")
            local.advance(1.0)
            assert await p.get_deployment("serve-1") is None
            await p.delete_deployment("serve-1")  # 404 is fine

    run(go())


def test_local_shapes(local: Local) -> None:
    async def go() -> None:
        async with local.provider() as p:
            latest = await p.get_training_shape_version(POLICY_SHAPE)
            assert latest.name == f"{POLICY_SHAPE}/versions/h7wd3p0s"  # r2mz6t9e is not validated
            assert (latest.accelerator_type, latest.accelerator_count, latest.node_count) == (
                "NVIDIA_H200_141GB",
                8,
                1,
            )
            assert latest.max_context_length == 131072
            assert latest.deployment_shape_version == f"{DEP_SHAPE}/versions/s6y1k9pb"
            pinned = await p.get_training_shape_version(f"{POLICY_SHAPE}/versions/c4n8xq2k")
            assert pinned.name.endswith("/c4n8xq2k")
            lora = await p.get_training_shape_version(LORA_SHAPE)
            assert lora.trainer_mode == "LORA_TRAINER"
            dsv = await p.get_deployment_shape_version(DEP_SHAPE)
            assert dsv.name == f"{DEP_SHAPE}/versions/s6y1k9pb" and dsv.accelerator_count == 1
            with pytest.raises(NotFound):
                await p.get_training_shape_version("accounts/fireworks/trainingShapes/none")

    run(go())


def test_local_checkpoints_and_hot_load(local: Local) -> None:
    async def go() -> None:
        async with local.provider() as p:
            trainer = await p.create_trainer_job(
                "pol", TrainerConfig(base_model=QWEN, lora_rank=16, training_shape=LORA_SHAPE)
            )
            await p.create_deployment(
                "serve",
                DeploymentConfig(
                    base_model=QWEN, deployment_shape=DEP_SHAPE, hot_load_trainer_job=trainer.name,
                    for_training=True,
                ),
            )
            local.advance(1.0)
            assert await p.list_checkpoints("pol") == []
            for name in ("step-1", "step-2"):
                response = await local.admin(
                    "POST", "/_local/v1/accounts/fwctl-local/rlorTrainerJobs/pol/snapshots", {"name": name}
                )
                assert response.status_code == 200, response.text
                local.advance(0.01)
            checkpoints = await p.list_checkpoints("pol")
            assert [c.snapshot for c in checkpoints] == ["step-1", "step-2"]
            assert checkpoints[0].name == "accounts/fwctl-local/rlorTrainerJobs/pol/checkpoints/step-1"

            before = await p.hot_load_status("serve", QWEN)
            assert before.replicas and before.current_snapshot is None
            await p.hot_load("serve", QWEN, "step-2")
            local.advance(1.0)
            after = await p.hot_load_status("serve", QWEN)
            assert after.current_snapshot == "step-2" and after.replicas[0].readiness

    run(go())


def test_local_injected_errors_are_retried(local: Local) -> None:
    async def go() -> FireworksProvider:
        async with local.provider() as p:
            await p.account_id()
            await local.admin("POST", "/_local/v1/faults", {"kind": "errors", "statuses": [503], "count": 2})
            assert await p.get_deployment("none") is None
            return p

    p = run(go())
    assert p.retries == 2


def test_local_rejects_a_wrong_key(local: Local) -> None:
    async def go() -> None:
        p = FireworksProvider(
            "http://127.0.0.1:8787", "wrong-key", transport=httpx.ASGITransport(app=local.app)
        )
        async with p:
            await p.account_id()

    with pytest.raises(AuthError, match="API key was rejected") as caught:
        run(go())
    assert "wrong-key" not in str(caught.value)
