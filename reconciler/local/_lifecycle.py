"""Time-driven state machines: a resource's state is a function of its stored timestamps, the
current time and the speed factor. Nothing runs in the background.

Trainer (emulated seconds, divided by ``speed``):
  create:  CREATING 4 s -> PENDING 2 s (+ capacity fault) -> RUNNING
  resume:  PENDING 2 s (+ capacity fault) -> CREATING 4 s -> RUNNING
  RUNNING with no gateway activity for ``inactivityTimeout`` -> PAUSED (resumable)
  preempt fault -> FAILED (resumable); :cancel -> CANCELLED (resumable)
  admin faults (``_trainer_states``): idle -> PAUSED now; early-stop -> EARLY_STOPPED (never left, not
  resumable); cancelling -> CANCELLING, then CANCELLED; requeue -> RE_QUEUEING, then PENDING, CREATING, RUNNING
  DELETE -> DELETING 2 s -> DELETED (a tombstone: GET shows it, lists hide it, the id is spent)
Deployment:
  create: CREATING 6 s -> READY; a PATCH of replicas / trainer / transition type -> UPDATING 2 s
  min 0: zero replicas after the idle window, gone after 7 idle days; stays-creating mode (``_autoscale``)
  fail fault -> FAILED; DELETE -> DELETING 2 s -> gone (GET 404, the id is free again)
Hot load: loading 2 s -> the replicas serve the snapshot.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from reconciler.local import _autoscale as autoscale

TRAINER_CREATING_S = 4.0
TRAINER_PENDING_S = 2.0
DEPLOYMENT_CREATING_S = 6.0
UPDATING_S = 2.0
DELETING_S = 2.0
HOTLOAD_S = 2.0
DEFAULT_INACTIVITY_S = 3600.0

RESUMABLE = ("JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_PAUSED", "JOB_STATE_COMPLETED")
TOMBSTONE = "JOB_STATE_DELETED"


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def duration(seconds: float) -> str:
    text = f"{seconds:.9f}".rstrip("0").rstrip(".")
    return f"{text}s"


# -- trainers -------------------------------------------------------------------------------------


def trainer_state(
    doc: dict[str, Any], last_activity: float | None, now: float, speed: float
) -> tuple[str, str, int, float]:
    """(state, status message, status code, time of the last transition)."""
    deleted_at = doc.get("deletedAt")
    if deleted_at is not None:
        end = float(deleted_at) + DELETING_S / speed
        if now < end:
            return "JOB_STATE_DELETING", "deleting", 0, float(deleted_at)
        return TOMBSTONE, "deleted", 0, end
    stop = doc.get("stop")
    if stop is not None and float(stop["at"]) <= now:
        return str(stop["state"]), str(stop["message"]), int(stop.get("code", 0)), float(stop["at"])
    if stop is not None and stop.get("via") and float(stop["viaAt"]) <= now:  # e.g. CANCELLING, then CANCELLED
        return str(stop["via"]), str(stop.get("viaMessage") or ""), 0, float(stop["viaAt"])
    start = float(doc["cycleStart"])
    creating = TRAINER_CREATING_S / speed
    pending = TRAINER_PENDING_S / speed + float(doc["extraPending"])
    requeued = doc.get("requeuedAt")
    if requeued is not None and float(requeued) <= now < start:  # then PENDING, CREATING, RUNNING (a resume)
        return "JOB_STATE_RE_QUEUEING", str(doc.get("requeueMessage") or "re-queued"), 0, float(requeued)
    if doc.get("cycleKind") == "resume":
        if now < start + pending:
            return "JOB_STATE_PENDING", "waiting for capacity", 0, start
        if now < start + pending + creating:
            return "JOB_STATE_CREATING", "starting the trainer", 0, start + pending
    else:
        if now < start + creating:
            return "JOB_STATE_CREATING", "starting the trainer", 0, start
        if now < start + creating + pending:
            return "JOB_STATE_PENDING", "waiting for capacity", 0, start + creating
    running = start + creating + pending
    if not doc.get("disableInactivityCleanup"):
        idle_from = max(running, last_activity or 0.0)
        idle_end = idle_from + float(doc["inactivityTimeoutS"]) / speed
        if now >= idle_end:
            message = f"paused after {doc['inactivityTimeout']} without trainer activity (inactivityTimeout)"
            return "JOB_STATE_PAUSED", message, 0, idle_end
    return "JOB_STATE_RUNNING", "", 0, running


# gRPC status code -> the name the public ``Status`` type carries (``fireworks/types/shared/status.py``:
# ``code`` is a Literal of names, never a number).
GRPC_NAMES = (
    "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
    "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
    "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
)


def status_json(code: int, message: str) -> dict[str, Any]:
    """A resource's ``status``: the code by its gRPC name; an empty message is left out (proto-JSON)."""
    out: dict[str, Any] = {"code": GRPC_NAMES[code] if 0 <= code < len(GRPC_NAMES) else "UNKNOWN"}
    if message:
        out["message"] = message
    return out


def public(answer: dict[str, Any]) -> dict[str, Any]:
    """The answer without unset (``None``) fields. Zero values (``""``, ``0``, ``false``) are written, as
    grpc-gateway v2's default marshaler does (``EmitUnpopulated``); fwctl's reader treats an absent
    field as its zero value as well, so either reading of the platform is covered."""
    return {k: public(v) if isinstance(v, dict) else v for k, v in answer.items() if v is not None}


# The fields of an RLOR trainer job the platform returns: those of the public type
# ``ReinforcementFineTuningStep`` (``fireworks/types/reinforcement_fine_tuning_step.py``) and its
# ``TrainingConfig`` (``shared/training_config.py``), of which the training SDK reads ``name``,
# ``state``, ``status`` and ``trainingConfig.maxContextLength``. Not returned, although a create
# accepts them: the ``trainingShape`` query parameter (the types have no such field), and the body's
# ``trainerReplicaCount``, ``inactivityTimeout``, ``useReservation``, ``reservationTarget``,
# ``purpose``, ``managedBy``, ``extraValues``, ``preemptible``, ``disableInactivityCleanup`` and
# ``trainingConfig.acceleratorType/acceleratorCount/projectionHeadDim/customImageTag/extraArgs``;
# nor ``updateTime`` or ``hotLoadBucketUrl``, which the type does not define for trainer jobs.
# Assumption where the types are silent: what they do not define is never returned (the strictest
# reading; ``GET /_local/v1/accounts/{a}/rlorTrainerJobs/{job}`` shows the local plane's whole record).
TRAINING_CONFIG_ANSWER = ("baseModel", "loraRank", "learningRate", "maxContextLength", "region")


def render_trainer(
    doc: dict[str, Any], last_activity: float | None, now: float, speed: float
) -> dict[str, Any]:
    """A trainer job as the platform answers it (see the comment above)."""
    state, message, code, changed = trainer_state(doc, last_activity, now, speed)
    tc = doc["trainingConfig"]
    out: dict[str, Any] = {
        "name": f"accounts/{doc['account']}/rlorTrainerJobs/{doc['id']}",
        "displayName": doc.get("displayName", ""),
        "state": state,
        "status": status_json(code, message),
        "createTime": iso(float(doc["createTime"])),
        "createdBy": doc.get("createdBy", "local"),
        "dataset": doc.get("dataset", ""),
        "trainingConfig": {k: tc[k] for k in TRAINING_CONFIG_ANSWER if k in tc},
        "nodeCount": doc["nodeCount"],
        "forwardOnly": bool(doc.get("forwardOnly", False)),
        "hotLoadDeploymentId": doc.get("hotLoadDeploymentId", ""),
        "serviceMode": bool(doc.get("serviceMode", True)),
        "keepAlive": bool(doc.get("keepAlive", False)),
    }
    if state in ("JOB_STATE_COMPLETED", "JOB_STATE_CANCELLED", "JOB_STATE_FAILED", "JOB_STATE_EARLY_STOPPED",
                 TOMBSTONE):
        out["completedTime"] = iso(changed)
    out["acceleratorSeconds"] = accelerator_seconds(doc, now)
    return public(out)


def accelerator_seconds(doc: dict[str, Any], now: float) -> dict[str, str]:
    """``acceleratorSeconds`` (the type's int64-as-string map): accelerators x wall-clock seconds since the
    job was created, until it was stopped or deleted (a rough meter; the platform updates it periodically)."""
    tc = doc["trainingConfig"]
    count = int(tc.get("acceleratorCount") or 0) * int(doc.get("nodeCount") or 1)
    end = now
    for at in (doc.get("deletedAt"), (doc.get("stop") or {}).get("at")):
        if at is not None:
            end = min(end, float(at))
    seconds = max(0.0, end - float(doc["createTime"]))
    return {str(tc.get("acceleratorType") or "NVIDIA_H200_141GB"): str(int(count * seconds))}


def trainer_record(
    doc: dict[str, Any], last_activity: float | None, now: float, speed: float
) -> dict[str, Any]:
    """Everything the local plane keeps about a trainer job (the admin inspection view, not the API)."""
    state, message, code, changed = trainer_state(doc, last_activity, now, speed)
    record = {k: v for k, v in doc.items() if k not in ("account", "id")}
    return {**record, "name": f"accounts/{doc['account']}/rlorTrainerJobs/{doc['id']}", "state": state,
            "status": status_json(code, message), "stateChanged": iso(changed)}


# -- deployments ----------------------------------------------------------------------------------


def deployment_state(doc: dict[str, Any], now: float, speed: float) -> str | None:
    """The state, or None once a deleted deployment is gone (``_autoscale``: idle ``min: 0`` ones too)."""
    deleted_at = doc.get("deletedAt")
    idle_end = autoscale.auto_deleted_at(doc, speed)
    if deleted_at is None and idle_end is not None and now >= idle_end:
        deleted_at = idle_end
    if deleted_at is not None:
        return "DELETING" if now < float(deleted_at) + DELETING_S / speed else None
    failed = doc.get("failed")
    if failed is not None and float(failed["at"]) <= now:
        return "FAILED"
    if now < float(doc["createTime"]) + DEPLOYMENT_CREATING_S / speed:
        return "CREATING"
    if now < float(doc.get("updatingUntil") or 0.0):
        return "UPDATING"
    return "READY"


def desired_replicas(doc: dict[str, Any]) -> int:
    lo, hi = int(doc["minReplicaCount"]), int(doc["maxReplicaCount"])
    return 0 if hi <= 0 else min(hi, max(lo, 1))


def current_replicas(state: str, doc: dict[str, Any], now: float | None = None, speed: float = 1.0) -> int:
    """Replicas running now (given ``now``: none while a ``min: 0`` deployment is scaled to zero)."""
    ready_at = float(doc["createTime"]) + DEPLOYMENT_CREATING_S / speed
    if now is not None and autoscale.scaled_to_zero(doc, ready_at, now, speed):
        return 0
    return desired_replicas(doc) if state in ("READY", "UPDATING") else 0


# The fields of a deployment the platform returns: those of the public type ``Deployment``
# (``fireworks/types/deployment.py``), plus ``hotLoadTrainerJob`` and ``hotLoadTransitionType``, which
# the training SDK's ``DeploymentManager`` reads back (``_parse_deployment_info``). Not returned,
# although a create accepts them: ``forTraining``, ``annotations``, ``extraArgs``, ``extraValues``,
# ``preemptible`` and the create query parameters (``deploymentId``, ``acceptShapelessRisk``,
# ``skipShapeValidation``, ``disableSpeculativeDecoding``). Assumption where the docs are silent: the
# SDK sends ``annotations`` but no public type or SDK read returns them, so they are kept, never shown.


def render_deployment(doc: dict[str, Any], state: str, now: float, speed: float = 1.0) -> dict[str, Any]:
    """A deployment as the platform answers it (see the comment above)."""
    replicas = current_replicas(state, doc, now, speed)
    failed = doc.get("failed")
    message = str(failed["message"]) if state == "FAILED" and failed else ""
    out: dict[str, Any] = {
        "name": f"accounts/{doc['account']}/deployments/{doc['id']}",
        "displayName": doc.get("displayName", ""),
        "description": doc.get("description", ""),
        "baseModel": doc["baseModel"],
        "state": autoscale.shown_state(doc, state),
        "status": status_json(13 if state == "FAILED" else 0, message),
        "createTime": iso(float(doc["createTime"])),
        "updateTime": iso(float(doc["updateTime"])),
        "minReplicaCount": doc["minReplicaCount"],
        "maxReplicaCount": doc["maxReplicaCount"],
        "desiredReplicaCount": replicas if state in ("READY", "UPDATING") else desired_replicas(doc),
        "replicaCount": replicas,
        "replicaStats": {
            "pendingSchedulingReplicaCount": 0,
            "downloadingModelReplicaCount": 0,
            "initializingReplicaCount": desired_replicas(doc) if state == "CREATING" else 0,
            "readyReplicaCount": replicas,
        },
        "acceleratorType": doc["acceleratorType"],
        "acceleratorCount": doc["acceleratorCount"],
        "precision": doc.get("precision", "BF16"),
        "deploymentShape": doc.get("deploymentShape", ""),
        "region": doc.get("region", ""),
        "placement": {"region": doc.get("region", "")},
        "enableHotLoad": bool(doc.get("enableHotLoad", True)),
        "hotLoadBucketType": doc.get("hotLoadBucketType", "FW_HOSTED"),
        "hotLoadBucketUrl": doc.get("hotLoadBucketUrl", ""),
        "hotLoadTrainerJob": doc.get("hotLoadTrainerJob", ""),
        "hotLoadTransitionType": doc.get("hotLoadTransitionType") or "ASYNC",
        "autoscalingPolicy": doc.get("autoscalingPolicy") or None,
    }
    if doc.get("deletedAt") is not None:
        out["deleteTime"] = iso(float(doc["deletedAt"]))
    return public(out)


def deployment_record(doc: dict[str, Any], state: str) -> dict[str, Any]:
    """Everything the local plane keeps about a deployment (the admin inspection view, not the API)."""
    record = {k: v for k, v in doc.items() if k not in ("account", "id")}
    return {**record, "name": f"accounts/{doc['account']}/deployments/{doc['id']}", "state": state}


def hotload_status(doc: dict[str, Any], state: str, now: float, speed: float) -> dict[str, Any]:
    """The hot-load status: one entry per current replica."""
    load = doc.get("hotload") or {}
    current = load.get("current")
    target = load.get("target")
    error = load.get("error")
    adapters = list(load.get("adapters") or [])  # LoRA adapters loaded (``_hotload``: one at a time)
    stage, readiness, message = "idle", current is not None or bool(adapters), ""
    if target is not None:
        if error:
            stage, readiness, message = "error", False, str(error)
        elif now < float(load["startedAt"]) + HOTLOAD_S / speed:
            stage, readiness, message = "loading", False, f"loading {target}"
        else:
            stage, readiness = "done", True
            adapters = [target] if load.get("lora") else []
            if not (load.get("lora") and load.get("adaptersOnly")):
                current = target
    if state == "UPDATING":
        readiness = False
    replicas = []
    for i in range(current_replicas(state, doc, now, speed)):
        replica: dict[str, Any] = {
            "identity": f"{doc['id']}-{int(doc.get('podGeneration', 0)):04d}-{i}",
            "current_snapshot_identity": current,
            "readiness": readiness,
            "loading_state": {"stage": stage, "target_snapshot_identity": target, "message": message},
        }
        if adapters:  # as the SDK's ``wait_for_hotload`` reads it: one "loaded" entry per adapter
            replica["loaded_adapters"] = [{"identity": a, "status": "loaded"} for a in adapters]
        replicas.append(replica)
    return {"replicas": replicas}
