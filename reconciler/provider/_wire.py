"""Fireworks wire JSON <-> fwctl's remote values. Pure functions; the only place that knows field names.

Reads are tolerant (absent or unknown fields are fine; proto-JSON omits zero values, so an absent
count is 0); writes send exactly what the official training SDK sends (see
``/work/shared/reference/fireworks-api.md``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from reconciler.model.remote import (
    BaseModelInfo,
    Checkpoint,
    DeploymentConfig,
    DeploymentInfo,
    DeploymentShapeVersion,
    HotLoadReplica,
    HotLoadStatus,
    TrainerConfig,
    TrainerJob,
    TrainingShapeVersion,
)

DEFAULT_DEPLOYMENT_DESCRIPTION = "Fireworks training deployment"  # what the SDK sends when unset
DEFAULT_DEPLOYMENT_ACCELERATOR = "NVIDIA_H200_141GB"  # the SDK's default on the shapeless path
_UNSPECIFIED_TRANSITIONS = frozenset({"UNSPECIFIED", "HOT_LOAD_TRANSITION_TYPE_UNSPECIFIED"})
_DURATION_RE = re.compile(r"^(\d+(?:\.\d{1,9})?)s$")
TRAINING_SHAPE_RE = re.compile(r"^accounts/[^/]+/trainingShapes/[^/]+(/versions/[^/]+)?$")
DEPLOYMENT_SHAPE_RE = re.compile(r"^accounts/[^/]+/deploymentShapes/[^/]+(/versions/[^/]+)?$")
MODEL_RE = re.compile(r"^accounts/[^/]+/models/[^/]+$")

# DeploymentConfig field -> (updateMask path, body key): the wire form of the fields the Deployment
# kind's field table marks in place (tests/unit check the two agree).
DEPLOYMENT_UPDATE_PATHS: dict[str, tuple[str, str]] = {
    "min_replicas": ("min_replica_count", "minReplicaCount"),
    "max_replicas": ("max_replica_count", "maxReplicaCount"),
    "hot_load_trainer_job": ("hot_load_trainer_job", "hotLoadTrainerJob"),
    "hot_load_transition": ("hot_load_transition_type", "hotLoadTransitionType"),
    "description": ("description", "description"),
    "annotations": ("annotations", "annotations"),
    "display_name": ("display_name", "displayName"),  # a retained deployment's re-mark (not in the field table)
}


# -- small readers ------------------------------------------------------------------------------


def last_segment(name: str) -> str:
    return name.rstrip("/").rsplit("/", 1)[-1]


def _get(data: Mapping[str, Any], *keys: str) -> Any:
    """The first present, non-empty value among ``keys`` (camelCase first, snake_case fallback)."""
    for key in keys:
        value = data.get(key)
        if value not in (None, ""):
            return value
    return None


def _obj(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _int(value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)  # proto-JSON may send int64 as a string
    except (TypeError, ValueError):
        return None


def _positive_int(value: Any) -> int | None:
    number = _int(value)
    return number if number else None


def _float(value: Any, default: float) -> float:
    try:
        return float(value) if value is not None else default
    except (TypeError, ValueError):
        return default


def _str(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    text = value
    # Python keeps microseconds: trim proto's nanoseconds.
    match = re.match(r"^(.*T\d\d:\d\d:\d\d)\.(\d+)(.*)$", text)
    if match:
        text = f"{match.group(1)}.{match.group(2)[:6]}{match.group(3)}"
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def parse_duration_s(value: Any) -> int | None:
    """``"3600s"`` -> 3600 (proto-JSON Duration). Numbers are taken as seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return round(value)
    if isinstance(value, str):
        match = _DURATION_RE.match(value.strip())
        if match:
            return round(float(match.group(1)))
    return None


def format_duration(seconds: int | float) -> str:
    if float(seconds).is_integer():
        return f"{int(seconds)}s"
    return f"{seconds:.9f}".rstrip("0").rstrip(".") + "s"


def status_message(data: Mapping[str, Any]) -> str:
    """The job / deployment status text, as the SDK finds it (reference §2.2)."""
    for key in ("statusMessage", "message"):
        if data.get(key):
            return str(data[key])
    status = data.get("status")
    if isinstance(status, Mapping):
        for key in ("message", "statusMessage", "detail", "details"):
            if status.get(key):
                return str(status[key])
        return ""
    return str(status) if status else ""


def parse_api_error(body: Any, text: str) -> str:
    """The platform's error message: ``{"error": {message}}``, ``{"message"}``, or the text's start."""
    if body is None:
        return text.strip()[:200]
    err = body.get("error", body) if isinstance(body, Mapping) else body
    if isinstance(err, Mapping):
        return str(err.get("message", err))
    return str(err)


# -- trainer jobs -------------------------------------------------------------------------------


def trainer_job_from_wire(data: Mapping[str, Any]) -> TrainerJob:
    name = str(data.get("name") or "")
    tc = _obj(data.get("trainingConfig") or data.get("training_config"))
    config = TrainerConfig(
        base_model=str(_get(tc, "baseModel", "base_model") or ""),
        lora_rank=_int(_get(tc, "loraRank", "lora_rank")) or 0,
        learning_rate=_float(_get(tc, "learningRate", "learning_rate"), 1e-5),
        training_shape=_str(_get(data, "trainingShape", "training_shape")),
        accelerator_type=_str(_get(tc, "acceleratorType", "accelerator_type")),
        accelerator_count=_positive_int(_get(tc, "acceleratorCount", "accelerator_count")),
        node_count=_positive_int(_get(data, "nodeCount", "node_count")),
        max_context_length=_positive_int(_get(tc, "maxContextLength", "max_context_length")),
        replica_count=_positive_int(_get(data, "trainerReplicaCount", "trainer_replica_count")),
        region=_str(_get(tc, "region")) or _str(_get(data, "region")),
        display_name=_str(_get(data, "displayName", "display_name")),
        inactivity_timeout=parse_duration_s(_get(data, "inactivityTimeout", "inactivity_timeout")),
        forward_only=bool(_get(data, "forwardOnly", "forward_only")),
        hot_load_deployment_id=_str(_get(data, "hotLoadDeploymentId", "hot_load_deployment_id")),
    )
    return TrainerJob(
        job_id=last_segment(name),
        name=name,
        state=str(data.get("state") or "JOB_STATE_UNSPECIFIED"),
        status_message=status_message(data),
        config=config,
        create_time=parse_time(_get(data, "createTime", "create_time")),
        update_time=parse_time(_get(data, "updateTime", "update_time")),
        accelerator_seconds=_accelerator_seconds(_get(data, "acceleratorSeconds", "accelerator_seconds")),
    )


def _accelerator_seconds(value: Any) -> dict[str, float]:
    """``{"NVIDIA_H200_141GB": "7200"}`` (int64 as a proto-JSON string) -> seconds by type."""
    out: dict[str, float] = {}
    for kind, seconds in _obj(value).items():
        number = _float(seconds, -1.0)
        if number >= 0:
            out[str(kind)] = number
    return out


def trainer_launch_path(config: TrainerConfig) -> str:
    """``shape`` (a training shape is named), ``manual`` (infra fields set) or ``auto``."""
    manual = (
        config.accelerator_type is not None
        or config.accelerator_count is not None
        or config.node_count is not None
    )
    if config.training_shape:
        if manual:
            raise ValueError(
                "a trainer on a training shape cannot also set acceleratorType / acceleratorCount / nodeCount"
            )
        return "shape"
    return "manual" if manual else "auto"


def trainer_create_request(job_id: str, config: TrainerConfig) -> tuple[str, dict[str, Any]]:
    """(query string, body) of ``POST /v1/accounts/{a}/rlorTrainerJobs``, in the SDK's order."""
    path = trainer_launch_path(config)
    query: list[tuple[str, str]] = []
    if config.hot_load_deployment_id:
        query.append(("deploymentId", config.hot_load_deployment_id))
    if path == "shape":
        query.append(("trainingShape", str(config.training_shape)))
    elif path == "manual":
        query.append(("skipValidations", "true"))
    query.append(("rlorTrainerJobId", job_id))

    training_config: dict[str, Any] = {
        "baseModel": config.base_model,
        "loraRank": config.lora_rank,
        "learningRate": config.learning_rate,
    }
    body: dict[str, Any] = {
        "serviceMode": True,
        "keepAlive": False,
        "dataset": "",
        "trainingConfig": training_config,
    }
    if config.replica_count is not None:
        body["trainerReplicaCount"] = config.replica_count
    body["useReservation"] = True  # SDK default: use_reservation=True, no reservationTarget
    if config.max_context_length is not None and path != "shape":
        training_config["maxContextLength"] = config.max_context_length
    if path == "manual":
        body["nodeCount"] = config.node_count if config.node_count is not None else 1
        if config.accelerator_type:
            training_config["acceleratorType"] = config.accelerator_type
        if config.accelerator_count:
            training_config["acceleratorCount"] = config.accelerator_count
    if config.display_name:
        body["displayName"] = config.display_name
    if config.hot_load_deployment_id:
        body["hotLoadDeploymentId"] = config.hot_load_deployment_id
    if config.region:
        training_config["region"] = config.region
    if config.forward_only:
        body["forwardOnly"] = True
    if config.inactivity_timeout is not None:
        body["inactivityTimeout"] = format_duration(config.inactivity_timeout)
    return urlencode(query), body


# -- checkpoints --------------------------------------------------------------------------------


def checkpoint_from_wire(data: Mapping[str, Any]) -> Checkpoint:
    name = str(data.get("name") or "")
    return Checkpoint(
        name=name,
        snapshot=last_segment(name),
        checkpoint_type=str(_get(data, "checkpointType", "checkpoint_type") or ""),
        create_time=parse_time(_get(data, "createTime", "create_time")),
        promotable=data.get("promotable") is not False,  # absent: as the platform's base rows
    )


# -- deployments --------------------------------------------------------------------------------


def parse_transition(value: Any) -> str | None:
    """ASYNC / SYNC; empty or UNSPECIFIED -> None (the platform's default, effectively ASYNC)."""
    if not isinstance(value, str):
        return None
    normalized = value.strip().upper()
    if not normalized or normalized in _UNSPECIFIED_TRANSITIONS:
        return None
    return normalized


def deployment_from_wire(data: Mapping[str, Any]) -> DeploymentInfo:
    name = str(data.get("name") or "")
    placement = _obj(data.get("placement"))
    annotations = _obj(data.get("annotations"))
    config = DeploymentConfig(
        base_model=str(_get(data, "baseModel", "base_model") or ""),
        deployment_shape=_str(_get(data, "deploymentShape", "deployment_shape")),
        accelerator_type=_str(_get(data, "acceleratorType", "accelerator_type")),
        accelerator_count=_positive_int(_get(data, "acceleratorCount", "accelerator_count")),
        min_replicas=_int(_get(data, "minReplicaCount", "min_replica_count")) or 0,
        max_replicas=_int(_get(data, "maxReplicaCount", "max_replica_count")) or 0,
        region=_str(_get(placement, "region")) or _str(_get(data, "region")),
        hot_load_enabled=bool(_get(data, "enableHotLoad", "enable_hot_load")),
        hot_load_bucket_type=_str(_get(data, "hotLoadBucketType", "hot_load_bucket_type")),
        hot_load_transition=parse_transition(_get(data, "hotLoadTransitionType", "hot_load_transition_type")),
        hot_load_trainer_job=_str(_get(data, "hotLoadTrainerJob", "hot_load_trainer_job")),
        description=_str(data.get("description")),
        # The public Deployment type has no annotations: read when a platform returns them, never relied on.
        annotations={str(k): str(v) for k, v in annotations.items()},
        display_name=_str(_get(data, "displayName", "display_name")),
    )
    return DeploymentInfo(
        deployment_id=last_segment(name),
        name=name,
        state=str(data.get("state") or "UNKNOWN"),
        status_message=status_message(data),
        config=config,
        replica_count=_int(_get(data, "replicaCount", "replica_count")) or 0,
        create_time=parse_time(_get(data, "createTime", "create_time")),
        update_time=parse_time(_get(data, "updateTime", "update_time")),
    )


def deployment_create_request(dep_id: str, config: DeploymentConfig) -> tuple[str, dict[str, Any]]:
    """(query string, body) of ``POST /v1/accounts/{a}/deployments``; ``deploymentId`` goes in raw."""
    if config.accept_shapeless_risk and config.deployment_shape:
        raise ValueError("acceptShapelessRisk cannot be combined with a deploymentShape")
    query = f"deploymentId={dep_id}"
    if config.accept_shapeless_risk:
        query += "&acceptShapelessRisk=true"
    body: dict[str, Any] = {
        "baseModel": config.base_model,
        "description": config.description or DEFAULT_DEPLOYMENT_DESCRIPTION,
        "minReplicaCount": config.min_replicas,
        "maxReplicaCount": config.max_replicas,
        "enableHotLoad": config.hot_load_enabled,
        "forTraining": config.for_training,
    }
    if config.region:
        body["placement"] = {"region": config.region}
    if config.hot_load_bucket_type:
        body["hotLoadBucketType"] = config.hot_load_bucket_type
    if config.hot_load_trainer_job:
        body["hotLoadTrainerJob"] = config.hot_load_trainer_job
    if config.hot_load_transition:
        body["hotLoadTransitionType"] = config.hot_load_transition
    if config.deployment_shape:
        body["deploymentShape"] = config.deployment_shape
    else:
        body["acceleratorType"] = config.accelerator_type or DEFAULT_DEPLOYMENT_ACCELERATOR
        if config.accelerator_count:
            body["acceleratorCount"] = config.accelerator_count
    if config.annotations:
        body["annotations"] = dict(config.annotations)
    if config.display_name:
        body["displayName"] = config.display_name  # a field of the public Deployment type
    return query, body


def deployment_update_request(changes: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """(updateMask, body) of one PATCH. Keys are ``DeploymentConfig`` field names."""
    if not changes:
        raise ValueError("update_deployment needs at least one change")
    unknown = sorted(set(changes) - set(DEPLOYMENT_UPDATE_PATHS))
    if unknown:
        raise ValueError(f"deployment fields cannot be changed in place: {', '.join(unknown)}")
    paths: list[str] = []
    body: dict[str, Any] = {}
    for field in sorted(changes, key=list(DEPLOYMENT_UPDATE_PATHS).index):
        mask_path, key = DEPLOYMENT_UPDATE_PATHS[field]
        value = changes[field]
        if field in ("hot_load_trainer_job", "hot_load_transition", "description") and value is None:
            value = ""  # detach / back to the platform's default
        elif field == "annotations":
            value = dict(value or {})
        paths.append(mask_path)
        body[key] = value
    return ",".join(paths), body


# -- models -------------------------------------------------------------------------------------


def model_from_wire(data: Mapping[str, Any]) -> BaseModelInfo:
    """A ``Model`` (list-models / get-model): ``contextLength`` and ``supportsLora`` are what fwctl checks."""
    lora = _get(data, "supportsLora", "supports_lora")
    return BaseModelInfo(
        name=str(data.get("name") or ""),
        context_length=_positive_int(_get(data, "contextLength", "context_length")),
        supports_lora=bool(lora) if lora is not None else None,
    )


# -- shapes -------------------------------------------------------------------------------------


def training_shape_version_from_wire(data: Mapping[str, Any]) -> TrainingShapeVersion:
    snap = _obj(data.get("snapshot"))
    return TrainingShapeVersion(
        name=str(data.get("name") or ""),
        base_model=_str(_get(snap, "baseModel", "base_model")) or _str(_get(data, "baseModel", "base_model")),
        trainer_mode=str(_get(snap, "trainerMode", "trainer_mode") or "POLICY_TRAINER"),
        accelerator_type=_str(_get(snap, "acceleratorType", "accelerator_type")),
        accelerator_count=_positive_int(_get(snap, "acceleratorCount", "accelerator_count")),
        node_count=_positive_int(_get(snap, "nodeCount", "node_count")) or 1,
        max_context_length=_positive_int(
            _get(snap, "maxSupportedContextLength", "max_supported_context_length")
        ),
        deployment_shape_version=_str(_get(snap, "deploymentShapeVersion", "deployment_shape_version")),
    )


def deployment_shape_version_from_wire(data: Mapping[str, Any]) -> DeploymentShapeVersion:
    snap = _obj(data.get("snapshot"))
    return DeploymentShapeVersion(
        name=str(data.get("name") or ""),
        base_model=_str(_get(snap, "baseModel", "base_model")) or _str(_get(data, "baseModel", "base_model")),
        accelerator_type=_str(_get(snap, "acceleratorType", "accelerator_type")),
        accelerator_count=_positive_int(_get(snap, "acceleratorCount", "accelerator_count")),
    )


def is_versioned(name: str) -> bool:
    """A pinned version (``…/versions/{v}``); ``…/versions/latest`` counts as unpinned."""
    if "/versions/" not in name:
        return False
    return last_segment(name) != "latest"


# -- hot load -----------------------------------------------------------------------------------


def hot_load_status_from_wire(data: Any) -> HotLoadStatus:
    if not isinstance(data, Mapping) or not isinstance(data.get("replicas"), list):
        raise ValueError("unrecognized hot-load status response (expected an object with a 'replicas' list)")
    replicas = []
    for raw in data["replicas"]:
        replica = _obj(raw)
        loading = _obj(replica.get("loading_state") or replica.get("loadingState"))
        replicas.append(
            HotLoadReplica(
                identity=str(replica.get("identity") or ""),
                current_snapshot=_str(_get(replica, "current_snapshot_identity", "currentSnapshotIdentity")),
                readiness=bool(replica.get("readiness", False)),
                stage=str(loading.get("stage") or "unknown"),
                target_snapshot=_str(_get(loading, "target_snapshot_identity", "targetSnapshotIdentity")),
                message=str(loading.get("message") or ""),
                loaded_adapters=tuple(str(a.get("identity")) for a in replica.get("loaded_adapters") or ()
                                      if isinstance(a, Mapping) and a.get("identity") and a.get("status") == "loaded"),
            )
        )
    return HotLoadStatus(replicas=tuple(replicas))
