"""Trainer states beyond the basic lifecycle, and the switches of the trainer gateway and hot-load status.

Admin faults (``POST /_local/v1/faults``, ``{"kind": K, "trainer": JOB}``) put a live job (CREATING,
PENDING or RUNNING; ``idle``: RUNNING) in a state the platform has (``fireworks/types/reinforcement_fine_tuning_step.py``,
the training SDK's ``trainer.py``):

- ``idle``: the inactivity auto-stop, now rather than after ``inactivityTimeout``: PAUSED (resumable);
- ``early-stop``: EARLY_STOPPED, which the job never leaves and which ``:resume`` refuses (the SDK's
  resumable states are FAILED, CANCELLED, PAUSED and COMPLETED only);
- ``cancelling``: CANCELLING for ``pendingSeconds`` (emulated; default 10), then CANCELLED;
- ``requeue``: RE_QUEUEING for ``pendingSeconds``, then PENDING, CREATING and RUNNING, as a resume.

Switches (``GET|PUT /_local/v1/switches``; ``DELETE /_local/v1/faults`` resets them):

- ``trainerGateway``: ``jwt`` (the default: ``client/config`` answers ``pjwt_auth_enabled: true`` and
  ``auth/token`` mints JWTs), ``api-key`` (no JWT exchange: ``pjwt_auth_enabled: false``, ``auth/token``
  404; the tinker client then sends the raw key, which the gateway accepts), ``healthz-only`` (a gateway
  that forwards healthz alone: every other ``/api/v1`` path 404);
- ``adapterStatus``: ``both`` (the default) or ``loaded-adapters`` (``_hotload``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request

from reconciler.local._errors import invalid, not_found, precondition
from reconciler.local._faults import Faults
from reconciler.local._trainers import Trainers
from reconciler.local._validate import check_enum, check_object

TRAINER_FAULTS = ("idle", "early-stop", "cancelling", "requeue")
GATEWAY_MODES = ("jwt", "api-key", "healthz-only")
ADAPTER_STATUS = ("both", "loaded-adapters")
LIVE = ("JOB_STATE_CREATING", "JOB_STATE_PENDING", "JOB_STATE_RUNNING")
DEFAULT_TRANSIENT_S = 10.0
MESSAGES = {
    "idle": "paused after no trainer activity for its inactivityTimeout (inactivity auto-stop)",
    "early-stop": "early stopped: the trainer ended the run itself (early-stopping criterion met)",
    "cancelling": "cancelling: the trainer is shutting down",
    "requeue": "re-queued: the trainer's node was lost; the job waits for capacity again",
}


def trainer_fault(trainers: Trainers, kind: str, account: str, body: dict[str, Any]) -> dict[str, Any]:
    """Put trainer ``body["trainer"]`` in the state fault ``kind`` stands for (see the module docstring)."""
    job = body.get("trainer") or ""
    if not job:
        raise invalid(f'a {kind} fault names its trainer: {{"kind": "{kind}", "trainer": JOB}}')
    seconds = float(body.get("pendingSeconds", DEFAULT_TRANSIENT_S))
    if seconds <= 0:
        raise invalid(f"{kind}.pendingSeconds must be > 0")
    message = str(body.get("message") or MESSAGES[kind])
    with trainers.store.atomic():
        doc, state = trainers.gateway_trainer(account, job)
        if state not in (("JOB_STATE_RUNNING",) if kind == "idle" else LIVE):  # only a running job idles
            raise precondition(f"cannot apply {kind} to job in state: {state}")
        now = trainers.clock()
        until = now + seconds / trainers.speed
        if kind == "idle":
            doc["stop"] = {"state": "JOB_STATE_PAUSED", "at": now, "message": message, "code": 0}
        elif kind == "early-stop":
            doc["stop"] = {"state": "JOB_STATE_EARLY_STOPPED", "at": now, "message": message, "code": 0}
        elif kind == "cancelling":
            doc["stop"] = {"state": "JOB_STATE_CANCELLED", "at": until, "message": "cancelled", "code": 1,
                           "via": "JOB_STATE_CANCELLING", "viaAt": now, "viaMessage": message}
        else:
            doc.update(stop=None, requeuedAt=now, requeueMessage=message, cycleStart=until, cycleKind="resume",
                       extraPending=trainers.faults.capacity_pending_s / trainers.speed)
        doc["updateTime"] = now
        trainers.store.put_trainer(account, job, doc, reset_activity=kind == "requeue")
    return {"applied": kind, "rlorTrainerJob": trainers.get_trainer(account, job)}


def gateway_switch(faults: Faults, rest: str) -> dict[str, Any] | None:
    """The answer of gateway path ``rest`` under the ``trainerGateway`` switch, or None (answer as usual)."""
    mode = faults.trainer_gateway
    if mode == "healthz-only" and rest not in ("healthz", "telemetry"):
        raise not_found(f"/api/v1/{rest} is not offered by this trainer gateway (healthz only)")
    if mode == "api-key":
        if rest == "client/config":
            return {"pjwt_auth_enabled": False, "credential_default_source": "api_key"}
        if rest == "auth/token":
            raise not_found("/api/v1/auth/token is not offered by this trainer gateway: send the API key")
    return None


def add_routes(add: Callable[..., None], faults: Faults) -> None:
    """``/_local/v1/switches`` (admin)."""

    def describe() -> dict[str, Any]:
        return {"trainerGateway": faults.trainer_gateway,
                "adapterStatus": "loaded-adapters" if faults.adapters_only else "both"}

    async def switches(request: Request) -> Any:
        if request.method == "PUT":
            try:
                raw = await request.json()
            except ValueError as err:
                raise invalid(f"Invalid JSON payload received: {err}") from None
            body = check_object(raw, {"trainerGateway": "str", "adapterStatus": "str"}, "switches")
            if "trainerGateway" in body:
                check_enum(body["trainerGateway"], GATEWAY_MODES, "switches.trainerGateway")
                faults.trainer_gateway = body["trainerGateway"]
            if "adapterStatus" in body:
                check_enum(body["adapterStatus"], ADAPTER_STATUS, "switches.adapterStatus")
                faults.adapters_only = body["adapterStatus"] == "loaded-adapters"
        return {"switches": describe()}

    add("/_local/v1/switches", ["GET", "PUT"], "admin", switches)
