"""Deployments: create, read, list, patch (an updateMask or a whole body), delete and the fail fault."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.local import _autoscale as autoscale
from reconciler.local import _lifecycle as life
from reconciler.local import _platform_rules as rules
from reconciler.local import _relaxed_rules as relaxed
from reconciler.local._errors import conflict, invalid, precondition
from reconciler.local._plane import BUCKET_ROOT, TRAINER_NAME_RE, Resource
from reconciler.local._shapes import shape_for_create
from reconciler.local._store import Doc
from reconciler.local._validate import check_enum, check_id, check_object, paginate, parse_filter, query_bool

BUCKET_TYPES = ("BUCKET_TYPE_UNSPECIFIED", "MINIO", "S3", "NEBIUS", "FW_HOSTED")
TRANSITION_TYPES = ("ASYNC", "SYNC", "HOT_LOAD_TRANSITION_TYPE_UNSPECIFIED", "UNSPECIFIED", "")

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
    "autoscaling_policy": "autoscalingPolicy",  # fireworks/types/deployment_update_params.py defines it
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


class Deployments(Resource):
    """``deployments``: the hot-load wiring to trainers (bucket, ``hotLoadTrainerJob``) is checked here."""

    def render_deployment(self, doc: Doc, state: str) -> dict[str, Any]:
        return life.render_deployment(doc, state, self.clock(), self.speed)

    def _live_trainer(self, account: str, name: str, where: str) -> Doc:
        match = TRAINER_NAME_RE.match(name)
        if not match:
            raise invalid(f"{where} {name!r} is not accounts/<account>/rlorTrainerJobs/<job>")
        if match.group(1) != account:
            raise invalid(f"{where} {name!r} belongs to another account")
        found = self.store.get_trainer(account, match.group(2))
        if found is None:
            raise invalid(f"{where}: trainer job {name} not found")
        state = self.plane.trainer_state(*found)
        if state in ("JOB_STATE_DELETING", life.TOMBSTONE):
            raise invalid(f"{where}: trainer job {name} is {state}")
        return found[0]

    def _per_deployment_trainers(self, account: str, dep: str) -> list[str]:
        return [
            d["id"]
            for d, a in self.store.list_trainers(account)
            if d.get("hotLoadDeploymentId") == dep
            and self.plane.trainer_state(d, a) not in ("JOB_STATE_DELETING", life.TOMBSTONE)
        ]

    def create_deployment(self, account: str, query: Mapping[str, str], raw: Any) -> dict[str, Any]:
        self.plane.check_account(account)
        dep = query.get("deploymentId", "")
        if not dep:
            raise invalid("deploymentId query parameter is required")
        check_id(dep, "deploymentId")
        body = relaxed.deployment_body(raw, DEPLOYMENT_BODY)  # real fields it does not model: accepted
        placement = check_object(body.get("placement", {}), PLACEMENT, "deployment.placement")
        shapeless = query_bool(query, "acceptShapelessRisk")
        skip_shape = query_bool(query, "skipShapeValidation")
        base_model = body.get("baseModel", "")
        if not base_model:
            raise invalid("baseModel is required")
        self.plane.model(base_model, "baseModel")
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
        if shape_ref == relaxed.DEFAULT_SHAPE:  # documented: the platform picks the base model's shape
            shape_ref = relaxed.resolve_default_shape(self.catalog, base_model)
        if shape_ref:
            relaxed.shape_precision(body, shape_ref)
            if shapeless:
                raise invalid("acceptShapelessRisk cannot be combined with deploymentShape")
            if "acceleratorType" in body or "acceleratorCount" in body:
                raise invalid(
                    f"acceleratorType/acceleratorCount cannot be set with deploymentShape {shape_ref}"
                )
            shape, version = shape_for_create(self.catalog, "deploymentShapes", shape_ref,
                                              skip_validation=skip_shape)
            if shape.base_model != base_model:
                raise invalid(
                    f"baseModel {base_model} does not match deployment shape {shape.name}, which serves "
                    f"{shape.base_model}"
                )
            accelerator = str(version.fields.get("acceleratorType", "NVIDIA_H200_141GB"))
            accelerator_count = int(version.fields.get("acceleratorCount", 1))
            precision = str(version.fields.get("precision", "BF16"))
            shape_name = version.name
            rules.check_for_training(self.catalog, shape_name, bool(body.get("forTraining", False)))
        else:
            # acceptShapelessRisk is "accepted but not enforced" (_relaxed_rules): no refusal without it
            accelerator = body.get("acceleratorType", "")
            if not accelerator:
                raise invalid("acceleratorType is required without a deploymentShape")
            check_enum(accelerator, sorted(self.catalog.accelerator_prices), "deployment.accelerator_type")
            accelerator_count = int(body.get("acceleratorCount", 1))
            precision, shape_name = relaxed.shapeless_precision(body), ""
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
        self.plane.quotas.check(account, accelerator, accelerator_count * hi, f"deployment {dep}")
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
                rules.deployment_first_trainer(trainer, trainer_name, dep)
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
                # ``_autoscale``: scale to zero and stays-creating; ``_inference`` records the requests
                "autoscalingPolicy": autoscale.policy(body.get("autoscalingPolicy")),
                "staysCreating": enable_hot_load and self.plane.stay_creating,
                "lastRequestAt": None,
                "wakeAt": None,
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
        doc, state = self.plane.deployment(account, dep)
        return self.render_deployment(doc, state)

    def inspect_deployment(self, account: str, dep: str) -> dict[str, Any]:
        """The local plane's whole record of a deployment (admin): what the public answer leaves out."""
        doc, state = self.plane.deployment(account, dep)
        return life.deployment_record(doc, state)

    def list_deployments(self, account: str, query: Mapping[str, str]) -> dict[str, Any]:
        self.plane.check_account(account)
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
        body = relaxed.deployment_body(raw, DEPLOYMENT_BODY)
        with self.store.atomic():
            doc, state = self.plane.deployment(account, dep)
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
            if hi > int(doc["maxReplicaCount"] or 0):  # scaling up the ceiling: the GPU quota
                self.plane.quotas.check(account, str(doc.get("acceleratorType")),
                                        int(doc.get("acceleratorCount") or 0) * hi, f"deployment {dep}", skip=dep)
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
                    rules.deployment_first_trainer(trainer, name, dep)
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
        if "autoscalingPolicy" in updates:
            doc["autoscalingPolicy"] = autoscale.policy(updates["autoscalingPolicy"])
        if rolls:
            doc["updatingUntil"] = now + life.UPDATING_S / self.speed
        doc["updateTime"] = now

    def delete_deployment(self, account: str, dep: str, query: Mapping[str, str]) -> dict[str, Any]:
        ignore_checks = query_bool(query, "ignoreChecks")
        hard = query_bool(query, "hard")  # hard=true purges; otherwise :undelete may restore it (_bootstrap)
        with self.store.atomic():
            doc, state = self.plane.deployment(account, dep)
            if state == "DELETING":
                return {}
            serving = life.current_replicas(state, doc, self.clock(), self.speed)
            if serving and not ignore_checks:
                raise precondition(
                    f"deployment {dep} has {serving} serving replica(s); scale it to zero first "
                    "or pass ignoreChecks=true"
                )
            now = self.clock()
            doc["deletedAt"], doc["hardDelete"] = now, hard
            doc["updateTime"] = now
            self.store.put_deployment(account, dep, doc)
        return {}

    def fail_deployment(self, account: str, dep: str, message: str) -> dict[str, Any]:
        with self.store.atomic():
            doc, state = self.plane.deployment(account, dep)
            if state == "DELETING":
                raise precondition(f"deployment {dep} is DELETING")
            now = self.clock()
            doc["failed"] = {"at": now, "message": message}
            doc["updateTime"] = now
            doc["hotload"] = None
            self.store.put_deployment(account, dep, doc)
        return self.render_deployment(doc, "FAILED")
