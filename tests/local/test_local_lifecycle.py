"""State machines, faults, the gateway, persistence across restarts and the in-process transport."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from reconciler.local import LocalConfig, create_app
from reconciler.local import _lifecycle as life
from tests.local.conftest import (
    ACCOUNT,
    KEY,
    POLICY_SHAPE,
    QWEN8B,
    LocalServer,
    create_deployment,
    create_trainer,
    hotload_headers,
    inspect,
    snapshot,
    start_server,
    trainer_body,
    wait_state,
)

TRAINERS = f"/v1/accounts/{ACCOUNT}/rlorTrainerJobs"
DEPLOYMENTS = f"/v1/accounts/{ACCOUNT}/deployments"


# -- pure state machines --------------------------------------------------------------------------


def _trainer_doc(**extra: object) -> dict[str, object]:
    doc: dict[str, object] = {
        "cycleStart": 1000.0,
        "cycleKind": "create",
        "extraPending": 0.0,
        "inactivityTimeoutS": 60.0,
        "inactivityTimeout": "60s",
        "stop": None,
        "deletedAt": None,
    }
    doc.update(extra)
    return doc


def test_trainer_states_follow_the_clock() -> None:
    doc = _trainer_doc()

    def state(now: float, activity: float | None = None, speed: float = 1.0) -> str:
        return life.trainer_state(doc, activity, now, speed)[0]

    assert state(1000.0) == "JOB_STATE_CREATING"
    assert state(1004.5) == "JOB_STATE_PENDING"
    assert state(1006.5) == "JOB_STATE_RUNNING"
    assert state(1066.5) == "JOB_STATE_PAUSED"  # 60 s idle since RUNNING at 1006
    assert state(1066.5, activity=1050.0) == "JOB_STATE_RUNNING"  # gateway activity keeps it alive
    assert state(1000.05, speed=100) == "JOB_STATE_PENDING"
    resumed = _trainer_doc(cycleKind="resume", extraPending=30.0)
    assert life.trainer_state(resumed, None, 1020.0, 1.0)[0] == "JOB_STATE_PENDING"  # capacity fault
    assert life.trainer_state(resumed, None, 1033.0, 1.0)[0] == "JOB_STATE_CREATING"
    deleted = _trainer_doc(deletedAt=1010.0)
    assert life.trainer_state(deleted, None, 1011.0, 1.0)[0] == "JOB_STATE_DELETING"
    assert life.trainer_state(deleted, None, 1013.0, 1.0)[0] == "JOB_STATE_DELETED"


def test_deployment_states_follow_the_clock() -> None:
    doc = {"createTime": 1000.0, "updatingUntil": None, "failed": None, "deletedAt": None}
    assert life.deployment_state(doc, 1005.0, 1.0) == "CREATING"
    assert life.deployment_state(doc, 1006.0, 1.0) == "READY"
    assert life.deployment_state({**doc, "updatingUntil": 1012.0}, 1011.0, 1.0) == "UPDATING"
    assert life.deployment_state({**doc, "deletedAt": 1020.0}, 1021.0, 1.0) == "DELETING"
    assert life.deployment_state({**doc, "deletedAt": 1020.0}, 1022.5, 1.0) is None


# -- over HTTP ------------------------------------------------------------------------------------


def test_trainer_walks_creating_pending_running(api: httpx.Client, uid: Callable[[str], str]) -> None:
    job = uid("t")
    assert api.post("/_local/v1/faults", json={"kind": "capacity", "pendingSeconds": 50}).status_code == 200
    created = create_trainer(api, job, running=False)
    assert created["state"] == "JOB_STATE_CREATING"
    pending = wait_state(api, f"{TRAINERS}/{job}", "JOB_STATE_PENDING")
    assert pending["status"]["message"]
    time.sleep(0.2)
    assert api.get(f"{TRAINERS}/{job}").json()["state"] == "JOB_STATE_PENDING"  # capacity fault: +0.5 s
    running = wait_state(api, f"{TRAINERS}/{job}", "JOB_STATE_RUNNING")
    assert running["trainingConfig"]["maxContextLength"] == 131072
    assert "trainingShape" not in running  # a create query parameter, never echoed
    assert inspect(api, f"{TRAINERS}/{job}")["trainingShape"] == f"{POLICY_SHAPE}/versions/h7wd3p0s"
    for key in ("createTime", "nodeCount", "serviceMode"):
        assert key in running
    for key in ("updateTime", "inactivityTimeout", "hotLoadBucketUrl", "useReservation"):  # not in the type
        assert key not in running
    assert running["status"]["code"] == "OK"  # the gRPC name, as the public Status type has it


def test_idle_trainer_pauses_and_resumes(api: httpx.Client, uid: Callable[[str], str]) -> None:
    job = uid("idle")
    create_trainer(api, job, inactivityTimeout="20s")  # 0.2 s at speed 100
    paused = wait_state(api, f"{TRAINERS}/{job}", "JOB_STATE_PAUSED")
    assert "inactivity" in paused["status"]["message"]
    resumed = api.post(f"{TRAINERS}/{job}:resume")
    assert resumed.status_code == 200
    assert resumed.json()["state"] == "JOB_STATE_PENDING"
    wait_state(api, f"{TRAINERS}/{job}", "JOB_STATE_RUNNING")


def test_lists_paginate_and_hide_tombstones(api: httpx.Client, uid: Callable[[str], str]) -> None:
    prefix = uid("page")
    jobs = [f"{prefix}-{i}" for i in range(3)]
    for job in jobs:
        create_trainer(api, job, running=False, displayName=prefix)
    api.delete(f"{TRAINERS}/{jobs[0]}")
    wait_state(api, f"{TRAINERS}/{jobs[0]}", "JOB_STATE_DELETED")
    seen: list[str] = []
    token = ""
    while True:
        page = api.get(
            TRAINERS, params={"pageSize": 1, "pageToken": token, "filter": f'displayName="{prefix}"'}
        ).json()
        seen += [j["name"].rsplit("/", 1)[1] for j in page["rlorTrainerJobs"]]
        assert page["totalSize"] == 2
        token = page["nextPageToken"]
        if not token:
            break
    assert seen == jobs[1:]
    # checkpoints of a deleted job stay listable, oldest first
    job = uid("ckpt")
    create_trainer(api, job)
    for step in ("step-1", "step-2", "step-3"):
        snapshot(api, job, step)
    api.delete(f"{TRAINERS}/{job}")
    first = api.get(f"{TRAINERS}/{job}/checkpoints", params={"pageSize": 2}).json()
    assert [c["name"].rsplit("/", 1)[1] for c in first["checkpoints"]] == ["step-1", "step-2"]
    assert first["checkpoints"][0]["checkpointType"] == "CHECKPOINT_TYPE_INFERENCE_BASE"
    rest = api.get(
        f"{TRAINERS}/{job}/checkpoints", params={"pageSize": 2, "pageToken": first["nextPageToken"]}
    ).json()
    assert [c["name"].rsplit("/", 1)[1] for c in rest["checkpoints"]] == ["step-3"]


def test_deployment_update_delete_and_reuse(api: httpx.Client, uid: Callable[[str], str]) -> None:
    dep = uid("d")
    assert create_deployment(api, dep, ready=False)["state"] == "CREATING"
    ready = wait_state(api, f"{DEPLOYMENTS}/{dep}", "READY")
    assert ready["replicaCount"] == 1 and ready["replicaStats"]["readyReplicaCount"] == 1
    assert ready["deploymentShape"].endswith("/versions/s6y1k9pb")
    resp = api.patch(
        f"{DEPLOYMENTS}/{dep}",
        params={"updateMask": "max_replica_count,min_replica_count"},
        json={"minReplicaCount": 2, "maxReplicaCount": 2},
    )
    assert resp.json()["state"] == "UPDATING"
    assert wait_state(api, f"{DEPLOYMENTS}/{dep}", "READY")["replicaCount"] == 2
    only_text = api.patch(
        f"{DEPLOYMENTS}/{dep}", params={"updateMask": "description"}, json={"description": "x"}
    )
    assert only_text.json()["state"] == "READY"  # no pod roll for a description
    api.delete(f"{DEPLOYMENTS}/{dep}", params={"ignoreChecks": "true", "hard": "true"})
    assert api.get(f"{DEPLOYMENTS}/{dep}").json()["state"] == "DELETING"
    assert dep in [d["name"].rsplit("/", 1)[1] for d in api.get(DEPLOYMENTS).json()["deployments"]]
    deadline = time.time() + 5
    while api.get(f"{DEPLOYMENTS}/{dep}").status_code != 404:
        assert time.time() < deadline
        time.sleep(0.01)
    assert create_deployment(api, dep, ready=False)["state"] == "CREATING"  # the id is free again


def test_hotload_states(api: httpx.Client, uid: Callable[[str], str]) -> None:
    job, dep = uid("t"), uid("d")
    create_trainer(api, job)
    create_deployment(api, dep, trainer=job, minReplicaCount=2, maxReplicaCount=2)
    identity = snapshot(api, job, "step-7")
    url = "/hot_load/v1/models/hot_load"
    resp = api.post(
        url, headers=hotload_headers(dep), json={"identity": identity, "reset_prompt_cache": True}
    )
    assert resp.status_code == 200
    status = api.get(url, headers=hotload_headers(dep)).json()
    assert len(status["replicas"]) == 2
    assert status["replicas"][0]["loading_state"]["stage"] == "loading"
    assert status["replicas"][0]["readiness"] is False
    time.sleep(0.05)
    replica = api.get(url, headers=hotload_headers(dep)).json()["replicas"][1]
    assert replica["current_snapshot_identity"] == identity and replica["readiness"] is True
    api.post(url, headers=hotload_headers(dep), json={"identity": "step-999"})
    replica = api.get(url, headers=hotload_headers(dep)).json()["replicas"][0]
    assert replica["loading_state"]["stage"] == "error"
    assert replica["loading_state"]["target_snapshot_identity"] == "step-999"
    assert "step-999" in replica["loading_state"]["message"]
    assert replica["current_snapshot_identity"] == identity


def test_gateway_health_jwt_and_activity(
    server: LocalServer, api: httpx.Client, uid: Callable[[str], str]
) -> None:
    job = uid("gw")
    # Held in PENDING (1,000 emulated seconds) so the not-yet-running check cannot race the clock.
    api.post("/_local/v1/faults", json={"kind": "capacity", "pendingSeconds": 1000}).raise_for_status()
    try:
        create_trainer(api, job, running=False)
        gw = f"{server.url}/training/v1/rlorTrainerJobs/{ACCOUNT}/{job}/api/v1"
        headers = {"X-Api-Key": KEY, "Authorization": f"Bearer {KEY}"}
        assert httpx.get(f"{gw}/healthz", headers=headers).status_code == 503
    finally:
        api.delete("/_local/v1/faults").raise_for_status()
    api.post(f"{TRAINERS}/{job}:cancel").raise_for_status()  # stop it, then resume without the delay
    wait_state(api, f"{TRAINERS}/{job}", "JOB_STATE_CANCELLED")
    api.post(f"{TRAINERS}/{job}:resume").raise_for_status()
    wait_state(api, f"{TRAINERS}/{job}", "JOB_STATE_RUNNING")
    assert httpx.get(f"{gw}/healthz", headers=headers).json() == {"status": "ok"}
    assert httpx.get(f"{gw}/healthz").status_code == 401
    jwt = httpx.post(f"{gw}/auth/token", headers={"X-Api-Key": KEY}, json={}).json()["jwt"]
    assert jwt.startswith("eyJ")
    with_jwt = {"X-API-Key": jwt}
    assert httpx.post(f"{gw}/client/config", headers=with_jwt, json={}).json()["pjwt_auth_enabled"] is True
    caps = httpx.get(f"{gw}/get_server_capabilities", headers=with_jwt).json()
    assert caps["supported_models"][0]["model_name"] == QWEN8B
    # a JWT is scoped to its trainer
    other = f"{server.url}/training/v1/rlorTrainerJobs/{ACCOUNT}/someone-else/api/v1/healthz"
    assert httpx.get(other, headers=with_jwt).status_code == 401


def test_error_and_latency_faults(server: LocalServer, api: httpx.Client) -> None:
    resp = api.post("/_local/v1/faults", json={"kind": "errors", "rate": 1.0, "statuses": [503], "count": 2})
    assert resp.status_code == 200
    for _ in range(2):
        hit = api.get("/v1/accounts")
        assert hit.status_code == 503 and hit.headers["retry-after"] == "1"
    assert api.get("/_local/v1/stats").status_code == 200  # admin routes are never hit
    assert api.get("/v1/accounts").status_code == 200  # the burst is over
    api.post("/_local/v1/faults", json={"kind": "latency", "ms": 150})
    start = time.perf_counter()
    api.get("/v1/accounts")
    assert time.perf_counter() - start >= 0.15
    assert api.delete("/_local/v1/faults").json() == {"faults": {}}
    bad = api.post("/_local/v1/faults", json={"kind": "meteor"})
    assert bad.status_code == 400


def test_restart_keeps_every_resource(tmp_path: Path) -> None:
    db = str(tmp_path / "restart.db")
    first = start_server(db, speed=50)
    try:
        with httpx.Client(base_url=first.url, headers={"X-Api-Key": KEY}) as api:
            create_trainer(api, "keep-trainer")
            create_trainer(api, "gone-trainer", running=False)
            api.delete(f"{TRAINERS}/gone-trainer")
            create_deployment(api, "keep-dep", trainer="keep-trainer")
            identity = snapshot(api, "keep-trainer", "step-5")
            api.post(
                "/hot_load/v1/models/hot_load",
                headers=hotload_headers("keep-dep"),
                json={"identity": identity},
            )
            before_trainer = api.get(f"{TRAINERS}/keep-trainer").json()
            time.sleep(0.1)
    finally:
        first.stop()
    second = start_server(db, speed=50)
    try:
        with httpx.Client(base_url=second.url, headers={"X-Api-Key": KEY}) as api:
            after = api.get(f"{TRAINERS}/keep-trainer").json()
            assert after["createTime"] == before_trainer["createTime"]
            assert after["state"] == "JOB_STATE_RUNNING"
            assert api.get(f"{TRAINERS}/gone-trainer").json()["state"] == "JOB_STATE_DELETED"
            dep = api.get(f"{DEPLOYMENTS}/keep-dep").json()
            assert dep["state"] == "READY" and dep["hotLoadTrainerJob"].endswith("/keep-trainer")
            status = api.get("/hot_load/v1/models/hot_load", headers=hotload_headers("keep-dep")).json()
            assert status["replicas"][0]["current_snapshot_identity"] == "step-5"
            ckpts = api.get(f"{TRAINERS}/keep-trainer/checkpoints").json()["checkpoints"]
            assert [c["name"].rsplit("/", 1)[1] for c in ckpts] == ["step-5"]
            # the JWT secret survives too: a token minted now verifies on the next restart
    finally:
        second.stop()


def test_concurrent_clients_never_see_5xx(
    server: LocalServer, api: httpx.Client, uid: Callable[[str], str]
) -> None:
    deps = [uid("conc") for _ in range(4)]
    for dep in deps:
        create_deployment(api, dep, ready=False)

    def worker(i: int) -> list[int]:
        codes = []
        with httpx.Client(base_url=server.url, headers={"X-Api-Key": KEY}) as client:
            for n in range(15):
                dep = deps[(i + n) % len(deps)]
                if n % 3 == 0:
                    resp = client.patch(
                        f"{DEPLOYMENTS}/{dep}",
                        params={"updateMask": "description"},
                        json={"description": f"{i}-{n}"},
                    )
                else:
                    resp = client.get(f"{DEPLOYMENTS}/{dep}")
                codes.append(resp.status_code)
        return codes

    with ThreadPoolExecutor(32) as pool:
        codes = [c for batch in pool.map(worker, range(32)) for c in batch]
    assert set(codes) == {200}
    assert api.get("/_local/v1/stats").json()["databaseLocked"] == 0


# -- in-process ------------------------------------------------------------------------------------


def test_in_process_asgi_transport_and_rate_limit(tmp_path: Path) -> None:
    app = create_app(LocalConfig(db_path=str(tmp_path / "inproc.db"), speed=1000, rate_limit=20))

    async def scenario() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://fwctl-local", headers={"X-Api-Key": KEY}
        ) as client:
            accounts = await client.get("/v1/accounts", params={"pageSize": 2})
            assert accounts.json()["accounts"][0]["name"] == f"accounts/{ACCOUNT}"
            created = await client.post(
                TRAINERS,
                params={"rlorTrainerJobId": "inproc", "trainingShape": POLICY_SHAPE},
                json=trainer_body(),
            )
            assert created.status_code == 200
            await asyncio.sleep(0.01)
            assert (await client.get(f"{TRAINERS}/inproc")).json()["state"] == "JOB_STATE_RUNNING"
            answers = [await client.get("/v1/accounts") for _ in range(40)]
            limited = [r for r in answers if r.status_code == 429]
            assert limited and limited[0].headers["retry-after"] == "1"
            assert (await client.get("/_local/v1/stats")).json()["rateLimited"] == len(limited)

    asyncio.run(scenario())


@pytest.mark.parametrize("speed", [0, -1])
def test_config_rejects_bad_speed(speed: float) -> None:
    with pytest.raises(ValueError):
        LocalConfig(speed=speed)
