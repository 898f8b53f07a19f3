"""Trainer states beyond the basic lifecycle (issue 13 point 5), and the trainer gateway without the JWT
exchange, against a real `fwctl local serve` over HTTP."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.local.conftest import ACCOUNT, KEY, QWEN8B, create_trainer, wait_state

TRAINERS = f"/v1/accounts/{ACCOUNT}/rlorTrainerJobs"


def fault(api: httpx.Client, kind: str, job: str, **extra: Any) -> httpx.Response:
    return api.post("/_local/v1/faults", json={"kind": kind, "trainer": job, **extra})


def resume(api: httpx.Client, job: str) -> httpx.Response:
    return api.post(f"{TRAINERS}/{job}:resume")


def test_early_stopped_is_never_left_and_cannot_be_resumed(api: httpx.Client, uid: Callable[[str], str]) -> None:
    job = uid("es")
    create_trainer(api, job)
    assert fault(api, "early-stop", job).status_code == 200
    stopped = api.get(f"{TRAINERS}/{job}").json()
    assert stopped["state"] == "JOB_STATE_EARLY_STOPPED"
    assert "early stopped" in stopped["status"]["message"] and stopped["completedTime"]
    refused = resume(api, job)
    assert refused.status_code == 400 and refused.json()["status"] == "FAILED_PRECONDITION"
    assert "JOB_STATE_EARLY_STOPPED" in refused.json()["message"]
    assert api.get(f"{TRAINERS}/{job}").json()["state"] == "JOB_STATE_EARLY_STOPPED"
    # a fault needs a live job
    again = fault(api, "requeue", job)
    assert again.status_code == 400 and "JOB_STATE_EARLY_STOPPED" in again.json()["message"]
    assert api.delete(f"{TRAINERS}/{job}").status_code == 200


def test_cancelling_settles_as_cancelled_then_resumes(api: httpx.Client, uid: Callable[[str], str]) -> None:
    job = uid("cx")
    create_trainer(api, job)
    answer = fault(api, "cancelling", job, pendingSeconds=60)  # 0.6 s at speed 100
    assert answer.json()["rlorTrainerJob"]["state"] == "JOB_STATE_CANCELLING"
    refused = resume(api, job)  # not resumable while it is still shutting down
    assert refused.status_code == 400 and "JOB_STATE_CANCELLING" in refused.json()["message"]
    gateway = f"/training/v1/rlorTrainerJobs/{ACCOUNT}/{job}/api/v1/healthz"
    assert api.get(gateway).status_code == 503
    cancelled = wait_state(api, f"{TRAINERS}/{job}", "JOB_STATE_CANCELLED")
    assert cancelled["completedTime"]
    assert resume(api, job).status_code == 200
    wait_state(api, f"{TRAINERS}/{job}", "JOB_STATE_RUNNING")


def test_requeueing_comes_back_through_pending(api: httpx.Client, uid: Callable[[str], str]) -> None:
    job = uid("rq")
    create_trainer(api, job)
    answer = fault(api, "requeue", job, pendingSeconds=50)
    requeued = answer.json()["rlorTrainerJob"]
    assert requeued["state"] == "JOB_STATE_RE_QUEUEING" and "re-queued" in requeued["status"]["message"]
    assert resume(api, job).status_code == 400  # a transient state: the platform brings it back by itself
    wait_state(api, f"{TRAINERS}/{job}", "JOB_STATE_PENDING")
    wait_state(api, f"{TRAINERS}/{job}", "JOB_STATE_RUNNING")


def test_idle_is_the_inactivity_auto_stop(api: httpx.Client, uid: Callable[[str], str]) -> None:
    job = uid("idle")
    create_trainer(api, job)
    paused = fault(api, "idle", job).json()["rlorTrainerJob"]
    assert paused["state"] == "JOB_STATE_PAUSED" and "inactivity" in paused["status"]["message"]
    assert resume(api, job).status_code == 200
    wait_state(api, f"{TRAINERS}/{job}", "JOB_STATE_RUNNING")
    missing = api.post("/_local/v1/faults", json={"kind": "early-stop"})
    assert missing.status_code == 400 and "names its trainer" in missing.json()["message"]


def _raw_key_capabilities(api: httpx.Client, base: str) -> list[str]:
    """The raw-key path the SDK's own client (``FiretitanServiceClient``) takes: ``X-API-Key`` with the
    Fireworks key, no JWT exchange."""
    resp = httpx.get(f"{api.base_url}{base}/get_server_capabilities", headers={"X-API-Key": KEY})
    assert resp.status_code == 200, resp.text
    return [m["model_name"] for m in resp.json()["supported_models"]]


def test_the_jwt_exchange_can_be_switched_off(api: httpx.Client, uid: Callable[[str], str]) -> None:
    job = uid("jwt")
    create_trainer(api, job)
    base = f"/training/v1/rlorTrainerJobs/{ACCOUNT}/{job}/api/v1"
    assert api.post(f"{base}/client/config", json={}).json()["pjwt_auth_enabled"] is True
    assert api.post(f"{base}/auth/token", json={}).status_code == 200

    bad = api.put("/_local/v1/switches", json={"trainerGateway": "none"})
    assert bad.status_code == 400 and "jwt, api-key, healthz-only" in bad.json()["message"]
    switched = api.put("/_local/v1/switches", json={"trainerGateway": "api-key"})
    assert switched.json()["switches"]["trainerGateway"] == "api-key"
    assert api.post(f"{base}/client/config", json={}).json()["pjwt_auth_enabled"] is False
    assert api.post(f"{base}/auth/token", json={}).status_code == 404
    # without the exchange a client authenticates with the raw key, and the gateway takes it
    assert _raw_key_capabilities(api, base) == [QWEN8B]

    api.put("/_local/v1/switches", json={"trainerGateway": "healthz-only"})
    assert api.get(f"{base}/healthz").status_code == 200
    for path in ("client/config", "auth/token"):
        assert api.post(f"{base}/{path}", json={}).status_code == 404
    assert api.get(f"{base}/get_server_capabilities").status_code == 404

    api.delete("/_local/v1/faults")  # resets the switches
    assert api.get("/_local/v1/switches").json()["switches"] == {"trainerGateway": "jwt", "adapterStatus": "both"}
    assert api.post(f"{base}/client/config", json={}).json()["pjwt_auth_enabled"] is True


@pytest.mark.parametrize("value", [{"adapterStatus": "some"}, {"other": 1}])
def test_switches_reject_bad_input(api: httpx.Client, value: dict[str, Any]) -> None:
    resp = api.put("/_local/v1/switches", json=value)
    assert resp.status_code == 400 and resp.json()["status"] == "INVALID_ARGUMENT"
