"""The control plane's behaviour: trainer jobs, deployments, shapes, snapshots and hot load.

Every method takes plain request data, checks it like the platform does, and returns the JSON
answer or raises :class:`ApiError`. HTTP lives in ``_app``; storage in ``_store``; time in
``_lifecycle``.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Mapping
from typing import Any

from reconciler.local import _lifecycle as life
from reconciler.local._catalog import Catalog, Shape, ShapeVersion
from reconciler.local._config import LocalConfig
from reconciler.local._errors import ApiError, conflict, invalid, not_found, precondition
from reconciler.local._faults import Faults
from reconciler.local._store import Doc, Store
from reconciler.local._validate import (
    check_enum,
    check_id,
    check_object,
    paginate,
    parse_duration,
    parse_filter,
    query_bool,
)

BUCKET_ROOT = "gs://fireworks-local-rl/rl-checkpoints"
SHAPE_RE = re.compile(r"^accounts/[^/]+/trainingShapes/[^/]+(/versions/[^/]+)?$")
DEPLOYMENT_SHAPE_RE = re.compile(r"^accounts/[^/]+/deploymentShapes/[^/]+(/versions/[^/]+)?$")
TRAINER_NAME_RE = re.compile(r"^accounts/([^/]+)/rlorTrainerJobs/([^/]+)$")
SNAPSHOT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
MAX_INACTIVITY_S = 10800.0
TRAINER_MODES = ("POLICY_TRAINER", "LORA_TRAINER", "FORWARD_ONLY")
BUCKET_TYPES = ("BUCKET_TYPE_UNSPECIFIED", "MINIO", "S3", "NEBIUS", "FW_HOSTED")
TRANSITION_TYPES = ("ASYNC", "SYNC", "HOT_LOAD_TRANSITION_TYPE_UNSPECIFIED", "UNSPECIFIED", "")

TRAINER_BODY = {
    "serviceMode": "bool",
    "keepAlive": "bool",
    "dataset": "str",
    "trainingConfig": "obj",
    "useReservation": "bool",
    "reservationTarget": "str",
    "trainerReplicaCount": "int",
    "nodeCount": "int",
    "displayName": "str",
    "hotLoadDeploymentId": "str",
    "extraValues": "strmap",
    "forwardOnly": "bool",
    "purpose": "str",
    "preemptible": "bool",
    "managedBy": "str",
    "inactivityTimeout": "str",
    "disableInactivityCleanup": "bool",
}
TRAINING_CONFIG = {
    "baseModel": "str",
    "loraRank": "int",
    "learningRate": "num",
    "projectionHeadDim": "int",
    "maxContextLength": "int",
    "customImageTag": "str",
    "acceleratorType": "str",
    "acceleratorCount": "int",
    "region": "str",
    "extraArgs": "strlist",
}
DEPLOYMENT_BODY = {
    "name": "str",
    "baseModel": "str",
    "displayName": "str",
    "description": "str",
    "minReplicaCount": "int",
    "maxReplicaCount": "int",
    "enableHotLoad": "bool",
    "forTraining": "bool",
    "placement": "obj",
    "hotLoadBucketType": "str",
    "hotLoadBucketUrl": "str",
    "hotLoadTrainerJob": "str",
    "hotLoadTransitionType": "str",
    "deploymentShape": "str",
    "acceleratorType": "str",
    "acceleratorCount": "int",
    "extraArgs": "strlist",
    "extraValues": "strmap",
    "annotations": "strmap",
    "preemptible": "bool",
}
PLACEMENT = {"region": "str"}
# updateMask path -> body field, for the fields a PATCH may change
MUTABLE_PATHS = {
    "min_replica_count": "minReplicaCount",
    "max_replica_count": "maxReplicaCount",
    "hot_load_trainer_job": "hotLoadTrainerJob",
    "hot_load_transition_type": "hotLoadTransitionType",
    "description": "description",
    "annotations": "annotations",
    "display_name": "displayName",
}
IMMUTABLE_PATHS = {
    "name": "name",
    "base_model": "baseModel",
    "deployment_shape": "deploymentShape",
    "accelerator_type": "acceleratorType",
    "accelerator_count": "acceleratorCount",
    "placement": "placement",
    "region": "region",
    "hot_load_bucket_type": "hotLoadBucketType",
    "hot_load_bucket_url": "hotLoadBucketUrl",
    "enable_hot_load": "enableHotLoad",
    "for_training": "forTraining",
    "extra_args": "extraArgs",
    "extra_values": "extraValues",
    "preemptible": "preemptible",
}
HOTLOAD_BODY = {"identity": "str", "reset_prompt_cache": "bool", "incremental_snapshot_metadata": "obj"}
INCREMENTAL = {"previous_snapshot_identity": "str", "compression_format": "str", "checksum_format": "str"}


def _version_json(version: ShapeVersion, shape: Shape, training: bool) -> dict[str, Any]:
    latest = shape.latest_validated()
    snapshot = dict(version.fields)
    snapshot["baseModel"] = shape.base_model
    if training:
        snapshot["trainerMode"] = shape.trainer_mode
    return {
        "name": version.name,
        "createTime": version.create_time,
        "validated": version.validated,
        "latestValidated": latest is not None and latest.version_id == version.version_id,
        "public": True,
        "baseModel": shape.base_model,
        "snapshot": snapshot,
    }


class ControlPlane:
    """The emulated account: what the REST routes call."""

    def __init__(
        self, store: Store, catalog: Catalog, config: LocalConfig, faults: Faults, clock: Callable[[], float]
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.config = config
        self.account = config.account
        self.speed = config.speed
        self.faults = faults
        self.clock = clock

    # -- accounts ---------------------------------------------------------------------------------

    def check_account(self, account: str) -> None:
        if account != self.account:
            raise ApiError(403, f"the API key has no access to account {account!r}")

    def accounts(self) -> dict[str, Any]:
        return {"accounts": [self.account_json()], "totalSize": 1, "nextPageToken": ""}

    def account_json(self) -> dict[str, Any]:
        return {
            "name": f"accounts/{self.account}",
            "displayName": f"{self.account} (fwctl local control plane)",
            "email": f"{self.account}@localhost",
            "accountType": "ENTERPRISE",
            "state": "READY",
            "suspendState": "UNSUSPENDED",
        }

    # -- shapes -----------------------------------------------------------------------------------

    def _shapes(self, kind: str) -> tuple[dict[str, Shape], bool, str]:
        if kind == "trainingShapes":
            return self.catalog.training_shapes, True, "trainingShapeVersions"
        return self.catalog.deployment_shapes, False, "deploymentShapeVersions"

    def _shape(self, kind: str, account: str, shape_id: str) -> Shape:
        shapes, _, _ = self._shapes(kind)
        name = f"accounts/{account}/{kind}/{shape_id}"
        shape = shapes.get(name)
        if shape is None:
            raise not_found(f"{kind[:-1]} {name} not found")
        return shape

    def get_shape(self, kind: str, account: str, shape_id: str) -> dict[str, Any]:
        shape = self._shape(kind, account, shape_id)
        latest = shape.latest_validated()
        out: dict[str, Any] = {
            "name": shape.name,
            "displayName": shape.display_name,
            "baseModel": shape.base_model,
            "latestValidatedVersion": latest.name if latest else "",
        }
        if kind == "trainingShapes":
            out["trainerMode"] = shape.trainer_mode
        return out

    def list_shapes(self, kind: str, account: str, query: Mapping[str, str]) -> dict[str, Any]:
        shapes, _, _ = self._shapes(kind)
        names = [s.split("/")[-1] for s in shapes if s.startswith(f"accounts/{account}/{kind}/")]
        items = [self.get_shape(kind, account, n) for n in names]
        page, token = paginate(items, query.get("pageSize"), query.get("pageToken"))
        return {kind: page, "nextPageToken": token, "totalSize": len(items)}

    def list_shape_versions(
        self, kind: str, account: str, shape_id: str, query: Mapping[str, str]
    ) -> dict[str, Any]:
        shape = self._shape(kind, account, shape_id)
        _, training, key = self._shapes(kind)
        wanted = parse_filter(
            query.get("filter"), {"latest_validated": "latestValidated", "validated": "validated"}
        )
        rows = [_version_json(v, shape, training) for v in reversed(shape.versions)]  # newest first
        for field, value in wanted.items():
            if value not in ("true", "false"):
                raise invalid(f"Unsupported filter value {value!r}: use true or false")
            rows = [r for r in rows if r[field] == (value == "true")]
        page, token = paginate(rows, query.get("pageSize"), query.get("pageToken"))
        return {key: page, "nextPageToken": token, "totalSize": len(rows)}

    def get_shape_version(self, kind: str, account: str, shape_id: str, version_id: str) -> dict[str, Any]:
        shape = self._shape(kind, account, shape_id)
        _, training, _ = self._shapes(kind)
        version = shape.version(version_id)
        if version is None:
            raise not_found(f"version {version_id!r} of {shape.name} not found")
        return _version_json(version, shape, training)

    # -- trainers ---------------------------------------------------------------------------------

    def _trainer(self, account: str, job: str) -> tuple[Doc, float | None]:
        self.check_account(account)
        found = self.store.get_trainer(account, job)
        if found is None:
            raise not_found(f"rlorTrainerJob accounts/{account}/rlorTrainerJobs/{job} not found")
        return found

    def trainer_state(self, doc: Doc, activity: float | None) -> str:
        return life.trainer_state(doc, activity, self.clock(), self.speed)[0]

    def render_trainer(self, doc: Doc, activity: float | None) -> dict[str, Any]:
        return life.render_trainer(doc, activity, self.clock(), self.speed)

    def _model(self, name: str, where: str) -> dict[str, Any]:
        model = self.catalog.models.get(name)
        if model is None:
            known = ", ".join(sorted(self.catalog.models))
            raise invalid(f"{where}: unknown base model {name!r} (models in this control plane: {known})")
        return model

    def create_trainer(self, account: str, query: Mapping[str, str], raw: Any) -> dict[str, Any]:
        self.check_account(account)
        body = check_object(raw, TRAINER_BODY, "rlor_trainer_job")
        tc = check_object(body.get("trainingConfig", {}), TRAINING_CONFIG, "rlor_trainer_job.training_config")
        if body.get("serviceMode") is False:
            raise invalid("serviceMode must be true: the local control plane runs service-mode trainers only")
        base_model = tc.get("baseModel", "")
        if not base_model:
            raise invalid("trainingConfig.baseModel is required")
        model = self._model(base_model, "trainingConfig.baseModel")
        lora_rank = int(tc.get("loraRank", 0))
        if lora_rank < 0:
            raise invalid("trainingConfig.loraRank must be >= 0")
        learning_rate = float(tc.get("learningRate", 1e-5))
        if learning_rate <= 0:
            raise invalid("trainingConfig.learningRate must be > 0")
        forward_only = bool(body.get("forwardOnly", False))
        display_name = body.get("displayName", "")
        if len(display_name) >= 64:
            raise invalid("displayName must be fewer than 64 characters")
        region = tc.get("region") or self.catalog.regions[0]
        check_enum(region, self.catalog.regions, "trainingConfig.region")
        replicas = body.get("trainerReplicaCount")
        if replicas is not None and int(replicas) < 1:
            raise invalid("trainerReplicaCount must be >= 1")
        timeout_text = body.get("inactivityTimeout") or "0s"
        timeout_s = parse_duration(timeout_text, "rlor_trainer_job.inactivity_timeout")
        if timeout_s > MAX_INACTIVITY_S:
            raise invalid("inactivityTimeout must be at most 10800s (3 hours)")
        if timeout_s == 0:
            timeout_s, timeout_text = life.DEFAULT_INACTIVITY_S, life.duration(life.DEFAULT_INACTIVITY_S)
        max_context = tc.get("maxContextLength")
        if max_context is not None and not 0 < int(max_context) <= int(model["maxContextLength"]):
            raise invalid(
                f"trainingConfig.maxContextLength {max_context} is out of range for {base_model} "
                f"(1..{model['maxContextLength']})"
            )

        shape_ref = query.get("trainingShape", "")
        skip = query_bool(query, "skipValidations")
        infra = [f for f in ("acceleratorType", "acceleratorCount") if f in tc] + (
            ["nodeCount"] if "nodeCount" in body else []
        )
        shape: Shape | None = None
        version: ShapeVersion | None = None
        if shape_ref:
            if infra:
                raise invalid(
                    f"{', '.join(infra)} cannot be set together with trainingShape {shape_ref}: "
                    "the shape owns the infrastructure"
                )
            if not SHAPE_RE.match(shape_ref):
                raise invalid(
                    f"trainingShape {shape_ref!r} is not accounts/<a>/trainingShapes/<s>[/versions/<v>]"
                )
            resolved = self.catalog.resolve(self.catalog.training_shapes, shape_ref)
            if resolved is None:
                raise invalid(f"training shape {shape_ref} not found")
            shape, version = resolved
            if version is None:
                raise precondition(f"training shape {shape_ref} has no validated version")
            if not version.validated and not skip:
                raise precondition(
                    f"training shape version {version.name} is not validated; pin a validated version "
                    "or pass skipValidations=true"
                )
            if shape.base_model != base_model:
                raise invalid(
                    f"training shape {shape.name} is for {shape.base_model}, not trainingConfig.baseModel {base_model}"
                )
            self._check_trainer_mode(shape, lora_rank, forward_only)
            shape_max = int(version.fields.get("maxSupportedContextLength", 0))
            if max_context is not None and shape_max and int(max_context) > shape_max:
                raise invalid(
                    f"trainingConfig.maxContextLength {max_context} exceeds the {shape_max} of shape {version.name}"
                )
        elif not skip:
            if infra:
                raise invalid(
                    f"{', '.join(infra)} need a manual launch (skipValidations=true); without a trainingShape "
                    "the control plane selects a validated shape"
                )
            shape, version = self._auto_select(base_model, lora_rank, forward_only, max_context)

        if version is not None:
            fields = version.fields
            accelerator = str(fields.get("acceleratorType", "NVIDIA_H200_141GB"))
            accelerator_count = int(fields.get("acceleratorCount", 8))
            node_count = int(fields.get("nodeCount", 1))
            context = int(max_context or fields.get("maxSupportedContextLength") or model["maxContextLength"])
        else:
            accelerator = str(tc.get("acceleratorType", "NVIDIA_H200_141GB"))
            check_enum(accelerator, sorted(self.catalog.accelerator_prices), "trainingConfig.acceleratorType")
            accelerator_count = int(tc.get("acceleratorCount", 8))
            node_count = int(body.get("nodeCount", 1))
            if accelerator_count < 1 or node_count < 1:
                raise invalid("acceleratorCount and nodeCount must be >= 1")
            context = int(max_context or model["maxContextLength"])

        job = query.get("rlorTrainerJobId") or f"fwctl-local-{secrets.token_hex(4)}"
        check_id(job, "rlorTrainerJobId")
        bucket = f"{BUCKET_ROOT}/{account}/trainer-{job}/"
        dep_query, dep_body = query.get("deploymentId", ""), body.get("hotLoadDeploymentId", "")
        if dep_query and dep_body and dep_query != dep_body:
            raise invalid(f"deploymentId {dep_query!r} and hotLoadDeploymentId {dep_body!r} differ")
        hot_dep = dep_query or dep_body
        now = self.clock()
        with self.store.atomic():
            if hot_dep:
                dep_doc = self.store.get_deployment(account, hot_dep)
                state = life.deployment_state(dep_doc, now, self.speed) if dep_doc else None
                if dep_doc is None or state in (None, "DELETING"):
                    raise invalid(
                        f"deploymentId {hot_dep!r}: deployment accounts/{account}/deployments/{hot_dep} not found "
                        "(the PER_DEPLOYMENT scope needs the deployment first)"
                    )
                if dep_doc.get("hotLoadTrainerJob"):
                    raise invalid(
                        f"hotload flow mismatch: deployment {hot_dep} uses the bucket of trainer "
                        f"{dep_doc['hotLoadTrainerJob']} (PER_TRAINER); a PER_DEPLOYMENT trainer cannot feed it"
                    )
                bucket = str(dep_doc.get("hotLoadBucketUrl") or bucket)
            training_config: dict[str, Any] = {
                "baseModel": base_model,
                "loraRank": lora_rank,
                "learningRate": learning_rate,
                "maxContextLength": context,
                "acceleratorType": accelerator,
                "acceleratorCount": accelerator_count,
                "region": region,
            }
            for key in ("projectionHeadDim", "customImageTag", "extraArgs"):
                if key in tc:
                    training_config[key] = tc[key]
            doc: Doc = {
                "id": job,
                "account": account,
                "displayName": display_name,
                "trainingConfig": training_config,
                "trainingShape": version.name if version is not None else "",
                "nodeCount": node_count,
                "trainerReplicaCount": replicas,
                "forwardOnly": forward_only,
                "hotLoadDeploymentId": hot_dep,
                "hotLoadBucketUrl": bucket,
                "inactivityTimeout": timeout_text,
                "inactivityTimeoutS": timeout_s,
                "disableInactivityCleanup": bool(body.get("disableInactivityCleanup", False)),
                "serviceMode": True,
                "keepAlive": bool(body.get("keepAlive", False)),
                "useReservation": bool(body.get("useReservation", False)),
                "reservationTarget": body.get("reservationTarget", ""),
                "purpose": body.get("purpose", ""),
                "managedBy": body.get("managedBy", ""),
                "extraValues": body.get("extraValues", {}),
                "preemptible": bool(body.get("preemptible", False)),
                "dataset": body.get("dataset", ""),
                "createTime": now,
                "updateTime": now,
                "cycleStart": now,
                "cycleKind": "create",
                "extraPending": self.faults.capacity_pending_s / self.speed,
                "stop": None,
                "deletedAt": None,
            }
            if not self.store.insert_trainer(account, job, doc):
                raise conflict(f"rlorTrainerJob accounts/{account}/rlorTrainerJobs/{job} already exists")
        return self.render_trainer(doc, None)

    @staticmethod
    def _check_trainer_mode(shape: Shape, lora_rank: int, forward_only: bool) -> None:
        mode = shape.trainer_mode or "POLICY_TRAINER"
        if lora_rank > 0 and mode != "LORA_TRAINER":
            raise invalid(f"loraRank {lora_rank} needs a LORA_TRAINER shape; {shape.name} is {mode}")
        if forward_only and mode == "POLICY_TRAINER":
            raise invalid(f"forwardOnly needs a FORWARD_ONLY or LORA_TRAINER shape; {shape.name} is {mode}")
        if mode == "FORWARD_ONLY" and not forward_only:
            raise invalid(f"{shape.name} is a FORWARD_ONLY shape: set forwardOnly: true")
        if mode == "LORA_TRAINER" and lora_rank == 0 and not forward_only:
            raise invalid(f"{shape.name} is a LORA_TRAINER shape: set loraRank > 0 (or forwardOnly: true)")

    def _auto_select(
        self, base_model: str, lora_rank: int, forward_only: bool, max_context: int | None
    ) -> tuple[Shape, ShapeVersion]:
        if forward_only:
            modes = ("LORA_TRAINER",) if lora_rank > 0 else ("FORWARD_ONLY", "LORA_TRAINER")
        else:
            modes = ("LORA_TRAINER",) if lora_rank > 0 else ("POLICY_TRAINER",)
        for mode in modes:
            for shape in self.catalog.training_shapes.values():
                version = shape.latest_validated()
                if shape.base_model != base_model or shape.trainer_mode != mode or version is None:
                    continue
                limit = int(version.fields.get("maxSupportedContextLength", 0))
                if max_context is not None and limit and int(max_context) > limit:
                    continue
                return shape, version
        raise precondition(
            f"no validated training shape matches baseModel {base_model}, loraRank {lora_rank}, "
            f"forwardOnly {str(forward_only).lower()}"
            + (f", maxContextLength {max_context}" if max_context else "")
            + "; pass a trainingShape or launch manually with skipValidations=true"
        )

    def get_trainer(self, account: str, job: str) -> dict[str, Any]:
        doc, activity = self._trainer(account, job)
        return self.render_trainer(doc, activity)

    def list_trainers(self, account: str, query: Mapping[str, str]) -> dict[str, Any]:
        self.check_account(account)
        wanted = parse_filter(
            query.get("filter"),
            {"state": "state", "display_name": "displayName", "displayName": "displayName"},
        )
        rows = [self.render_trainer(d, a) for d, a in self.store.list_trainers(account)]
        rows = [r for r in rows if r["state"] != life.TOMBSTONE]
        for field, value in wanted.items():
            rows = [r for r in rows if str(r.get(field, "")) == value]
        page, token = paginate(rows, query.get("pageSize"), query.get("pageToken"))
        return {"rlorTrainerJobs": page, "nextPageToken": token, "totalSize": len(rows)}

    def delete_trainer(self, account: str, job: str) -> dict[str, Any]:
        with self.store.atomic():
            doc, _ = self._trainer(account, job)
            if doc.get("deletedAt") is None:
                now = self.clock()
                doc["deletedAt"] = now
                doc["updateTime"] = now
                self.store.put_trainer(account, job, doc)
        return {}

    def resume_trainer(self, account: str, job: str) -> dict[str, Any]:
        with self.store.atomic():
            doc, activity = self._trainer(account, job)
            state = self.trainer_state(doc, activity)
            if state not in life.RESUMABLE:
                raise precondition(
                    f"cannot resume job in state: {state} (resumable: {', '.join(life.RESUMABLE)})"
                )
            now = self.clock()
            doc.update(
                stop=None,
                cycleStart=now,
                cycleKind="resume",
                extraPending=self.faults.capacity_pending_s / self.speed,
                updateTime=now,
            )
            self.store.put_trainer(account, job, doc, reset_activity=True)
        return self.render_trainer(doc, None)

    def stop_trainer(self, account: str, job: str, state: str, message: str, code: int) -> dict[str, Any]:
        """Cancel (``JOB_STATE_CANCELLED``) or preempt (``JOB_STATE_FAILED``) a live trainer."""
        with self.store.atomic():
            doc, activity = self._trainer(account, job)
            current = self.trainer_state(doc, activity)
            verb = "cancel" if state == "JOB_STATE_CANCELLED" else "preempt"
            if current not in ("JOB_STATE_CREATING", "JOB_STATE_PENDING", "JOB_STATE_RUNNING"):
                raise precondition(f"cannot {verb} job in state: {current}")
            now = self.clock()
            doc["stop"] = {"state": state, "at": now, "message": message, "code": code}
            doc["updateTime"] = now
            self.store.put_trainer(account, job, doc)
        return self.render_trainer(doc, activity)

    def list_checkpoints(self, account: str, job: str, query: Mapping[str, str]) -> dict[str, Any]:
        self._trainer(account, job)
        rows = [
            {
                k: v
                for k, v in s.items()
                if k in ("name", "createTime", "updateTime", "checkpointType", "promotable")
            }
            for s in self.store.list_snapshots(account, job)
        ]
        page, token = paginate(rows, query.get("pageSize"), query.get("pageToken"))
        return {"checkpoints": page, "nextPageToken": token, "totalSize": len(rows)}

    def create_snapshot(self, account: str, job: str, raw: Any) -> dict[str, Any]:
        body = check_object(raw, {"name": "str"}, "snapshot")
        name = body.get("name", "")
        if not SNAPSHOT_RE.match(name):
            raise invalid(f"snapshot name {name!r}: use letters, digits, '.', '_' and '-' (up to 128)")
        now = self.clock()
        with self.store.atomic():
            doc, activity = self._trainer(account, job)
            state = self.trainer_state(doc, activity)
            if state != "JOB_STATE_RUNNING":
                raise precondition(f"trainer {job} is {state}: snapshots are saved by a RUNNING trainer")
            lora = int(doc["trainingConfig"]["loraRank"]) > 0
            snapshot = {
                "identity": name,
                "name": f"accounts/{account}/rlorTrainerJobs/{job}/checkpoints/{name}",
                "trainer": f"accounts/{account}/rlorTrainerJobs/{job}",
                "createTime": life.iso(now),
                "updateTime": life.iso(now),
                "checkpointType": "CHECKPOINT_TYPE_INFERENCE_LORA"
                if lora
                else "CHECKPOINT_TYPE_INFERENCE_BASE",
                "promotable": True,
                "bucketUrl": f"{doc['hotLoadBucketUrl']}{name}/",
            }
            if not self.store.insert_snapshot(account, job, name, snapshot):
                raise conflict(f"snapshot {name!r} of trainer {job} already exists")
            self.store.touch_trainer(account, job, now)
        return snapshot

    def touch(self, account: str, job: str) -> None:
        self.store.touch_trainer(account, job, self.clock())

    # -- deployments ------------------------------------------------------------------------------

    def _deployment(self, account: str, dep: str) -> tuple[Doc, str]:
        """The stored document and its state; 404 when missing or gone."""
        self.check_account(account)
        doc = self.store.get_deployment(account, dep)
        state = life.deployment_state(doc, self.clock(), self.speed) if doc else None
        if doc is None or state is None:
            raise not_found(f"deployment accounts/{account}/deployments/{dep} not found")
        return doc, state

    def render_deployment(self, doc: Doc, state: str) -> dict[str, Any]:
        return life.render_deployment(doc, state, self.clock())

    def _live_trainer(self, account: str, name: str, where: str) -> Doc:
        match = TRAINER_NAME_RE.match(name)
        if not match:
            raise invalid(f"{where} {name!r} is not accounts/<account>/rlorTrainerJobs/<job>")
        if match.group(1) != account:
            raise invalid(f"{where} {name!r} belongs to another account")
        found = self.store.get_trainer(account, match.group(2))
        if found is None:
            raise invalid(f"{where}: trainer job {name} not found")
        state = self.trainer_state(*found)
        if state in ("JOB_STATE_DELETING", life.TOMBSTONE):
            raise invalid(f"{where}: trainer job {name} is {state}")
        return found[0]

    def _per_deployment_trainers(self, account: str, dep: str) -> list[str]:
        return [
            d["id"]
            for d, a in self.store.list_trainers(account)
            if d.get("hotLoadDeploymentId") == dep
            and self.trainer_state(d, a) not in ("JOB_STATE_DELETING", life.TOMBSTONE)
        ]

    def create_deployment(self, account: str, query: Mapping[str, str], raw: Any) -> dict[str, Any]:
        self.check_account(account)
        dep = query.get("deploymentId", "")
        if not dep:
            raise invalid("deploymentId query parameter is required")
        check_id(dep, "deploymentId")
        body = check_object(raw, DEPLOYMENT_BODY, "deployment")
        placement = check_object(body.get("placement", {}), PLACEMENT, "deployment.placement")
        shapeless = query_bool(query, "acceptShapelessRisk")
        skip_shape = query_bool(query, "skipShapeValidation")
        base_model = body.get("baseModel", "")
        if not base_model:
            raise invalid("baseModel is required")
        self._model(base_model, "baseModel")
        lo, hi = int(body.get("minReplicaCount", 0)), int(body.get("maxReplicaCount", 1))
        self._check_replicas(lo, hi)
        bucket_type = body.get("hotLoadBucketType", "FW_HOSTED")
        check_enum(bucket_type, BUCKET_TYPES, "deployment.hot_load_bucket_type")
        transition = body.get("hotLoadTransitionType", "")
        check_enum(transition, TRANSITION_TYPES, "deployment.hot_load_transition_type")
        region = placement.get("region", "")
        if region:
            check_enum(region, self.catalog.regions, "deployment.placement.region")
        shape_ref = body.get("deploymentShape", "")
        if shape_ref:
            if shapeless:
                raise invalid("acceptShapelessRisk cannot be combined with deploymentShape")
            if "acceleratorType" in body or "acceleratorCount" in body:
                raise invalid(
                    f"acceleratorType/acceleratorCount cannot be set with deploymentShape {shape_ref}"
                )
            if not DEPLOYMENT_SHAPE_RE.match(shape_ref):
                raise invalid(
                    f"deploymentShape {shape_ref!r} is not accounts/<a>/deploymentShapes/<s>[/versions/<v>]"
                )
            resolved = self.catalog.resolve(self.catalog.deployment_shapes, shape_ref)
            if resolved is None:
                raise invalid(f"deployment shape {shape_ref} not found")
            shape, version = resolved
            if version is None:
                raise precondition(f"deployment shape {shape_ref} has no validated version")
            if not version.validated and not skip_shape:
                raise precondition(f"deployment shape version {version.name} is not validated")
            if shape.base_model != base_model:
                raise invalid(
                    f"baseModel {base_model} does not match deployment shape {shape.name}, which serves "
                    f"{shape.base_model}"
                )
            accelerator = str(version.fields.get("acceleratorType", "NVIDIA_H200_141GB"))
            accelerator_count = int(version.fields.get("acceleratorCount", 1))
            precision = str(version.fields.get("precision", "BF16"))
            shape_name = version.name
        else:
            if not shapeless:
                raise invalid(
                    "a deployment without deploymentShape needs acceptShapelessRisk=true "
                    "(shapeless deployments skip validation)"
                )
            accelerator = body.get("acceleratorType", "")
            if not accelerator:
                raise invalid("acceleratorType is required without a deploymentShape")
            check_enum(accelerator, sorted(self.catalog.accelerator_prices), "deployment.accelerator_type")
            accelerator_count = int(body.get("acceleratorCount", 1))
            precision, shape_name = "BF16", ""
        enable_hot_load = bool(body.get("enableHotLoad", True))
        trainer_name = body.get("hotLoadTrainerJob", "")
        explicit_bucket = body.get("hotLoadBucketUrl", "")
        if trainer_name and explicit_bucket:
            raise invalid(
                f"hot_load_bucket_url {explicit_bucket} conflicts with hot_load_trainer_job {trainer_name}; "
                "set exactly one"
            )
        if trainer_name and not enable_hot_load:
            raise invalid("hotLoadTrainerJob needs enableHotLoad: true")
        if explicit_bucket:
            self._check_bucket(account, explicit_bucket, bucket_type)
        now = self.clock()
        with self.store.atomic():
            existing = self.store.get_deployment(account, dep)
            if existing is not None:
                if life.deployment_state(existing, now, self.speed) is not None:
                    raise conflict(f"deployment accounts/{account}/deployments/{dep} already exists")
                self.store.drop_deployment(account, dep)
            bucket = explicit_bucket
            if trainer_name:
                trainer = self._live_trainer(account, trainer_name, "hotLoadTrainerJob")
                bucket = str(trainer["hotLoadBucketUrl"])
                region = region or str(trainer["trainingConfig"].get("region", ""))
            elif enable_hot_load and not bucket:
                bucket = f"{BUCKET_ROOT}/{account}/{dep}/"
            doc: Doc = {
                "id": dep,
                "account": account,
                "baseModel": base_model,
                "displayName": body.get("displayName", ""),
                "description": body.get("description", ""),
                "minReplicaCount": lo,
                "maxReplicaCount": hi,
                "enableHotLoad": enable_hot_load,
                "forTraining": bool(body.get("forTraining", False)),
                "region": region or self.catalog.regions[0],
                "hotLoadBucketType": bucket_type,
                "hotLoadBucketUrl": bucket,
                "bucketExplicit": bool(explicit_bucket),
                "hotLoadTrainerJob": trainer_name,
                "hotLoadTransitionType": "" if transition not in ("ASYNC", "SYNC") else transition,
                "deploymentShape": shape_name,
                "acceleratorType": accelerator,
                "acceleratorCount": accelerator_count,
                "precision": precision,
                "annotations": body.get("annotations", {}),
                "extraArgs": body.get("extraArgs", []),
                "extraValues": body.get("extraValues", {}),
                "preemptible": bool(body.get("preemptible", False)),
                "flags": {
                    "acceptShapelessRisk": shapeless,
                    "skipShapeValidation": skip_shape,
                    "disableSpeculativeDecoding": query_bool(query, "disableSpeculativeDecoding"),
                },
                "createTime": now,
                "updateTime": now,
                "updatingUntil": None,
                "failed": None,
                "deletedAt": None,
                "podGeneration": 0,
                "hotload": None,
            }
            self.store.insert_deployment(account, dep, doc)
        return self.render_deployment(doc, "CREATING")

    @staticmethod
    def _check_replicas(lo: int, hi: int) -> None:
        if lo < 0 or hi < 0:
            raise invalid("minReplicaCount and maxReplicaCount must be >= 0")
        if lo > hi:
            raise invalid(f"minReplicaCount {lo} is greater than maxReplicaCount {hi}")

    @staticmethod
    def _check_bucket(account: str, url: str, bucket_type: str) -> None:
        if bucket_type == "FW_HOSTED" and (
            not url.startswith("gs://") or f"/rl-checkpoints/{account}/" not in url
        ):
            raise invalid(
                f"hot_load_bucket_url {url!r}: a FW_HOSTED bucket is gs://<bucket>/rl-checkpoints/{account}/..."
            )

    def get_deployment(self, account: str, dep: str) -> dict[str, Any]:
        doc, state = self._deployment(account, dep)
        return self.render_deployment(doc, state)

    def list_deployments(self, account: str, query: Mapping[str, str]) -> dict[str, Any]:
        self.check_account(account)
        wanted = parse_filter(query.get("filter"), {"state": "state", "base_model": "baseModel"})
        now = self.clock()
        rows = []
        for doc in self.store.list_deployments(account):
            state = life.deployment_state(doc, now, self.speed)
            if state is not None:
                rows.append(self.render_deployment(doc, state))
        for field, value in wanted.items():
            rows = [r for r in rows if str(r.get(field, "")) == value]
        page, token = paginate(rows, query.get("pageSize"), query.get("pageToken"))
        return {"deployments": page, "nextPageToken": token, "totalSize": len(rows)}

    def patch_deployment(self, account: str, dep: str, mask_raw: str | None, raw: Any) -> dict[str, Any]:
        body = check_object(raw, DEPLOYMENT_BODY, "deployment")
        with self.store.atomic():
            doc, state = self._deployment(account, dep)
            if state == "DELETING":
                raise precondition(f"deployment {dep} is DELETING")
            updates: dict[str, Any] = {}
            if mask_raw:
                for path in (p.strip() for p in mask_raw.split(",")):
                    if not path:
                        continue
                    if path in IMMUTABLE_PATHS:
                        raise invalid(
                            f"updateMask: field {path} is immutable; replace the deployment to change it"
                        )
                    field = MUTABLE_PATHS.get(path)
                    if field is None:
                        raise invalid(f"updateMask: unknown field path {path!r}")
                    updates[field] = body.get(field)
            else:
                for field, value in body.items():
                    if field in MUTABLE_PATHS.values():
                        updates[field] = value
                    elif not self._same_value(doc, field, value):
                        raise invalid(f"field {field} is immutable; replace the deployment to change it")
            self._apply_patch(account, dep, doc, updates)
            self.store.put_deployment(account, dep, doc)
            state = life.deployment_state(doc, self.clock(), self.speed) or "DELETING"
        return self.render_deployment(doc, state)

    @staticmethod
    def _same_value(doc: Doc, field: str, value: Any) -> bool:
        if field == "name":
            return bool(value == f"accounts/{doc['account']}/deployments/{doc['id']}")
        if field == "placement":
            return not value or value.get("region") in (None, "", doc.get("region"))
        if field == "deploymentShape":
            stored = str(doc.get("deploymentShape", ""))
            return bool(value in (stored, stored.split("/versions/")[0]))
        return bool(doc.get(field) == value)

    def _apply_patch(self, account: str, dep: str, doc: Doc, updates: dict[str, Any]) -> None:
        now = self.clock()
        rolls = False
        if "minReplicaCount" in updates or "maxReplicaCount" in updates:
            lo = int(updates.get("minReplicaCount", doc["minReplicaCount"]) or 0)
            hi = int(updates.get("maxReplicaCount", doc["maxReplicaCount"]) or 0)
            self._check_replicas(lo, hi)
            if (lo, hi) != (doc["minReplicaCount"], doc["maxReplicaCount"]):
                before = life.desired_replicas(doc)
                doc["minReplicaCount"], doc["maxReplicaCount"] = lo, hi
                after = life.desired_replicas(doc)
                rolls = rolls or before != after
                if after == 0:
                    doc["hotload"] = None  # the pods are gone; new ones start from the base weights
        if "hotLoadTransitionType" in updates:
            transition = updates["hotLoadTransitionType"] or ""
            check_enum(transition, TRANSITION_TYPES, "deployment.hot_load_transition_type")
            transition = transition if transition in ("ASYNC", "SYNC") else ""
            if (transition or "ASYNC") != (doc.get("hotLoadTransitionType") or "ASYNC"):
                rolls = True
            doc["hotLoadTransitionType"] = transition
        if "hotLoadTrainerJob" in updates:
            name = updates["hotLoadTrainerJob"] or ""
            if name != doc.get("hotLoadTrainerJob", ""):
                if name:
                    if not doc.get("enableHotLoad", True):
                        raise invalid("hotLoadTrainerJob needs enableHotLoad: true")
                    if doc.get("bucketExplicit"):
                        raise invalid(
                            f"hot_load_bucket_url {doc['hotLoadBucketUrl']} conflicts with hot_load_trainer_job "
                            f"{name}; update hot_load_trainer_job instead, or clear it first"
                        )
                    per_dep = self._per_deployment_trainers(account, dep)
                    if per_dep:
                        raise invalid(
                            f"hotload flow mismatch: deployment {dep} is fed by PER_DEPLOYMENT trainer(s) "
                            f"{', '.join(per_dep)}; delete them before attaching a trainer with hotLoadTrainerJob"
                        )
                    trainer = self._live_trainer(account, name, "hotLoadTrainerJob")
                    doc["hotLoadBucketUrl"] = trainer["hotLoadBucketUrl"]
                else:
                    doc["hotLoadBucketUrl"] = f"{BUCKET_ROOT}/{account}/{dep}/"
                doc["hotLoadTrainerJob"] = name
                doc["podGeneration"] = int(doc.get("podGeneration", 0)) + 1
                doc["hotload"] = None
                rolls = True
        if "description" in updates:
            doc["description"] = updates["description"] or ""
        if "displayName" in updates:
            doc["displayName"] = updates["displayName"] or ""
        if "annotations" in updates:
            doc["annotations"] = updates["annotations"] or {}
        if rolls:
            doc["updatingUntil"] = now + life.UPDATING_S / self.speed
        doc["updateTime"] = now

    def delete_deployment(self, account: str, dep: str, query: Mapping[str, str]) -> dict[str, Any]:
        ignore_checks = query_bool(query, "ignoreChecks")
        query_bool(query, "hard")  # accepted; every local delete is hard
        with self.store.atomic():
            doc, state = self._deployment(account, dep)
            if state == "DELETING":
                return {}
            serving = life.current_replicas(state, doc)
            if serving and not ignore_checks:
                raise precondition(
                    f"deployment {dep} has {serving} serving replica(s); scale it to zero first "
                    "or pass ignoreChecks=true"
                )
            now = self.clock()
            doc["deletedAt"] = now
            doc["updateTime"] = now
            self.store.put_deployment(account, dep, doc)
        return {}

    def fail_deployment(self, account: str, dep: str, message: str) -> dict[str, Any]:
        with self.store.atomic():
            doc, state = self._deployment(account, dep)
            if state == "DELETING":
                raise precondition(f"deployment {dep} is DELETING")
            now = self.clock()
            doc["failed"] = {"at": now, "message": message}
            doc["updateTime"] = now
            doc["hotload"] = None
            self.store.put_deployment(account, dep, doc)
        return self.render_deployment(doc, "FAILED")

    # -- hot load ---------------------------------------------------------------------------------

    def _hotload_target(self, deployment: str | None, model: str | None) -> tuple[Doc, str]:
        if not deployment:
            raise invalid("the fireworks-deployment header is required (accounts/<a>/deployments/<id>)")
        match = re.match(r"^accounts/([^/]+)/deployments/([^/]+)$", deployment)
        if not match:
            raise invalid(f"fireworks-deployment {deployment!r} is not accounts/<a>/deployments/<id>")
        doc, state = self._deployment(match.group(1), match.group(2))
        if not model:
            raise invalid("the fireworks-model header is required")
        if model not in (doc["baseModel"], deployment):
            raise invalid(
                f"fireworks-model {model} does not match the deployment's base model {doc['baseModel']}"
            )
        if not doc.get("enableHotLoad", True):
            raise precondition(f"deployment {doc['id']} was created without enableHotLoad")
        return doc, state

    def hotload(self, deployment: str | None, model: str | None, raw: Any) -> dict[str, Any]:
        if not isinstance(raw, dict):
            raise invalid("body: expected a JSON object")
        extra = [k for k in raw if k not in HOTLOAD_BODY]
        if extra:
            raise invalid(f"body.{extra[0]}: extra inputs are not permitted")
        body = check_object(raw, HOTLOAD_BODY, "body")
        identity = body.get("identity", "")
        if not identity:
            raise invalid("body.identity: field required")
        incremental = body.get("incremental_snapshot_metadata")
        if incremental is not None:
            check_object(incremental, INCREMENTAL, "body.incremental_snapshot_metadata")
        now = self.clock()
        with self.store.atomic():
            doc, state = self._hotload_target(deployment, model)
            if life.current_replicas(state, doc) == 0:
                raise precondition(f"deployment {doc['id']} is {state} with no serving replicas")
            status = life.hotload_status(doc, state, now, self.speed)["replicas"][0]
            current = status["current_snapshot_identity"]
            error = self._snapshot_error(doc, identity)
            if not error:
                error = self.faults.take_hotload_error(doc["account"], doc["id"]) or ""
            if not error and incremental is not None:
                previous = incremental.get("previous_snapshot_identity")
                if previous != current:
                    error = (
                        f"delta snapshot {identity} is based on {previous}, but the replicas serve {current}"
                    )
            doc["hotload"] = {"current": current, "target": identity, "startedAt": now, "error": error}
            self.store.put_deployment(doc["account"], doc["id"], doc)
        return {"status": "accepted", "identity": identity, "deployment": deployment}

    def _snapshot_error(self, doc: Doc, identity: str) -> str:
        account, dep = doc["account"], doc["id"]
        jobs: list[str] = []
        attached = TRAINER_NAME_RE.match(doc.get("hotLoadTrainerJob") or "")
        if attached:
            jobs.append(attached.group(2))
        jobs += [d["id"] for d, _ in self.store.list_trainers(account) if d.get("hotLoadDeploymentId") == dep]
        if not jobs:
            return f"snapshot {identity} not found: deployment {dep} has no trainer attached"
        if any(self.store.has_snapshot(account, job, identity) for job in jobs):
            return ""
        return f"snapshot {identity} not found in the bucket of trainer {', '.join(jobs)} ({doc['hotLoadBucketUrl']})"

    def hotload_status(self, deployment: str | None, model: str | None) -> dict[str, Any]:
        doc, state = self._hotload_target(deployment, model)
        return life.hotload_status(doc, state, self.clock(), self.speed)

    # -- the trainer gateway ----------------------------------------------------------------------

    def gateway_trainer(self, account: str, job: str) -> tuple[Doc, str]:
        doc, activity = self._trainer(account, job)
        return doc, self.trainer_state(doc, activity)

    def tinker_checkpoints(self, account: str, job: str) -> dict[str, Any]:
        rows = [
            {
                "checkpoint_id": s["identity"],
                "checkpoint_type": "sampler",
                "time": s["createTime"],
                "tinker_path": f"tinker://{job}/sampler_weights/{s['identity']}",
                "public": False,
            }
            for s in self.store.list_snapshots(account, job)
        ]
        return {"checkpoints": rows, "cursor": {"offset": 0, "limit": len(rows), "total_count": len(rows)}}
