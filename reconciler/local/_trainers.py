"""RLOR trainer jobs, their checkpoints (sampler snapshots) and what the trainer gateway asks of them."""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from typing import Any

from reconciler.local import _lifecycle as life
from reconciler.local import _platform_rules as rules
from reconciler.local import _relaxed_rules as relaxed
from reconciler.local import _snapshots as snapshots
from reconciler.local._catalog import Shape, ShapeVersion
from reconciler.local._errors import conflict, invalid, not_found, precondition
from reconciler.local._plane import BUCKET_ROOT, Resource
from reconciler.local._shapes import shape_for_create
from reconciler.local._store import Doc
from reconciler.local._validate import (
    check_enum,
    check_id,
    check_object,
    paginate,
    parse_duration,
    parse_filter,
    query_bool,
)

SNAPSHOT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
MAX_INACTIVITY_S = 10800.0

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


class Trainers(Resource):
    """``rlorTrainerJobs``, their checkpoints, and the lookups behind the trainer gateway."""

    def _trainer(self, account: str, job: str) -> tuple[Doc, float | None]:
        self.plane.check_account(account)
        found = self.store.get_trainer(account, job)
        if found is None:
            raise not_found(f"rlorTrainerJob accounts/{account}/rlorTrainerJobs/{job} not found")
        return found

    def render_trainer(self, doc: Doc, activity: float | None) -> dict[str, Any]:
        return life.render_trainer(doc, activity, self.clock(), self.speed)

    def create_trainer(self, account: str, query: Mapping[str, str], raw: Any, *,
                       elevated: bool = False) -> dict[str, Any]:
        """``elevated``: the caller presented an admin (superuser) key, which ``skipValidations`` needs."""
        self.plane.check_account(account)
        body = relaxed.trainer_body(raw, TRAINER_BODY)  # real fields it does not model: accepted, ignored
        tc = relaxed.training_config(body.get("trainingConfig", {}), TRAINING_CONFIG)
        if body.get("serviceMode") is False:
            raise invalid("serviceMode must be true: the local control plane runs service-mode trainers only")
        base_model = tc.get("baseModel", "")
        if not base_model:
            raise invalid("trainingConfig.baseModel is required")
        model = self.plane.model(base_model, "trainingConfig.baseModel")
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
        rules.check_context_length(max_context, "trainingConfig.maxContextLength")
        if max_context is not None and not 0 < int(max_context) <= int(model["maxContextLength"]):
            raise invalid(
                f"trainingConfig.maxContextLength {max_context} is out of range for {base_model} "
                f"(1..{model['maxContextLength']})"
            )

        shape_ref = query.get("trainingShape", "")
        skip = query_bool(query, "skipValidations")
        if skip:
            rules.check_elevated(elevated)
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
            shape, version = shape_for_create(
                self.catalog, "trainingShapes", shape_ref, skip_validation=skip,
                unvalidated_hint="; pin a validated version or pass skipValidations=true")
            if shape.base_model != base_model:
                raise invalid(
                    f"training shape {shape.name} is for {shape.base_model}, not trainingConfig.baseModel {base_model}"
                )
            rules.check_enabled(shape, account)
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
            shape, version = self._auto_select(base_model, lora_rank, forward_only, max_context, account)

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
        self.plane.quotas.check(account, accelerator, accelerator_count * node_count * int(replicas or 1),
                                f"trainer job {job}")
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
                rules.trainer_first_deployment(hot_dep, dep_doc)
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
        self, base_model: str, lora_rank: int, forward_only: bool, max_context: int | None, account: str = ""
    ) -> tuple[Shape, ShapeVersion]:
        if forward_only:
            modes = ("LORA_TRAINER",) if lora_rank > 0 else ("FORWARD_ONLY", "LORA_TRAINER")
        else:
            modes = ("LORA_TRAINER",) if lora_rank > 0 else ("POLICY_TRAINER",)
        for mode in modes:
            for shape in self.catalog.training_shapes.values():
                version = shape.latest_validated()
                if (shape.base_model != base_model or shape.trainer_mode != mode or version is None
                        or not rules.enabled_for(shape, account)):
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

    def inspect_trainer(self, account: str, job: str) -> dict[str, Any]:
        """The local plane's whole record of a job (admin): what the public answer leaves out."""
        doc, activity = self._trainer(account, job)
        return life.trainer_record(doc, activity, self.clock(), self.speed)

    def list_trainers(self, account: str, query: Mapping[str, str]) -> dict[str, Any]:
        self.plane.check_account(account)
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
            state = self.plane.trainer_state(doc, activity)
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
            current = self.plane.trainer_state(doc, activity)
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
        """``{"name"}`` (plus, from the admin endpoint, ``session`` and ``checkpointType``): ``_snapshots``."""
        body = check_object(raw, snapshots.SNAPSHOT_BODY, "snapshot")
        name = body.get("name", "")
        now = self.clock()
        with self.store.atomic():
            doc, activity = self._trainer(account, job)
            name = snapshots.identity_for(doc, name, body) if SNAPSHOT_RE.match(name) else name
            if not SNAPSHOT_RE.match(name):
                raise invalid(f"snapshot name {name!r}: use letters, digits, '.', '_' and '-' (up to 128)")
            state = self.plane.trainer_state(doc, activity)
            if state != "JOB_STATE_RUNNING":
                raise precondition(f"trainer {job} is {state}: snapshots are saved by a RUNNING trainer")
            snapshot = snapshots.snapshot_record(doc, account, job, name, body,
                                                 self.store.list_snapshots(account, job), now)
            if not self.store.insert_snapshot(account, job, name, snapshot):
                raise conflict(f"snapshot {name!r} of trainer {job} already exists")
            self.store.touch_trainer(account, job, now)
        return snapshot

    def touch(self, account: str, job: str) -> None:
        self.store.touch_trainer(account, job, self.clock())

    # -- the trainer gateway ----------------------------------------------------------------------

    def gateway_trainer(self, account: str, job: str) -> tuple[Doc, str]:
        doc, activity = self._trainer(account, job)
        return doc, self.plane.trainer_state(doc, activity)

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
