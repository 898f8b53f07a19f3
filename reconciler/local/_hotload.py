"""The hot-load API: load a trainer's snapshot into a deployment's replicas, and its status.

A delta snapshot (full-parameter saves after a session's first) is refused without
``incremental_snapshot_metadata``, as the platform does (the SDK's ``_snapshot_chain``: without it the
deployment would load the delta as a full snapshot). A LoRA adapter's load is reported in the replica's
``loaded_adapters``; with the ``adapterStatus: loaded-adapters`` switch (``_trainer_states``) only there,
as serving backends that load adapters beside the base do (``current_snapshot_identity`` unchanged).
"""

from __future__ import annotations

import re
from typing import Any

from reconciler.local import _lifecycle as life
from reconciler.local._errors import invalid, precondition
from reconciler.local._plane import TRAINER_NAME_RE, Resource
from reconciler.local._store import Doc
from reconciler.local._validate import check_object

HOTLOAD_BODY = {"identity": "str", "reset_prompt_cache": "bool", "incremental_snapshot_metadata": "obj"}
INCREMENTAL = {"previous_snapshot_identity": "str", "compression_format": "str", "checksum_format": "str"}


class HotLoad(Resource):
    """``/hot_load/v1/models/hot_load``: the deployment and model come in headers."""

    def _target(self, deployment: str | None, model: str | None) -> tuple[Doc, str]:
        if not deployment:
            raise invalid("the fireworks-deployment header is required (accounts/<a>/deployments/<id>)")
        match = re.match(r"^accounts/([^/]+)/deployments/([^/]+)$", deployment)
        if not match:
            raise invalid(f"fireworks-deployment {deployment!r} is not accounts/<a>/deployments/<id>")
        doc, state = self.plane.deployment(match.group(1), match.group(2))
        if not model:
            raise invalid("the fireworks-model header is required")
        if model not in (doc["baseModel"], deployment):
            raise invalid(
                f"fireworks-model {model} does not match the deployment's base model {doc['baseModel']}"
            )
        if not doc.get("enableHotLoad", True):
            raise precondition(f"deployment {doc['id']} was created without enableHotLoad")
        return doc, state

    def load(self, deployment: str | None, model: str | None, raw: Any) -> dict[str, Any]:
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
            doc, state = self._target(deployment, model)
            if life.current_replicas(state, doc, now, self.speed) == 0:
                raise precondition(f"deployment {doc['id']} is {state} with no serving replicas")
            status = life.hotload_status(doc, state, now, self.speed)["replicas"][0]
            current = status["current_snapshot_identity"]
            error = self._snapshot_error(doc, identity)
            record = self._snapshot_record(doc, identity) if not error else None
            if record is not None and not record.get("promotable", True) and incremental is None:
                raise invalid(
                    f"snapshot {identity} is a delta checkpoint: hot-loading it needs incremental_snapshot_metadata "
                    f"(previous_snapshot_identity: {record.get('base') or 'the base it was computed against'})"
                )
            if not error:
                error = self.faults.take_hotload_error(doc["account"], doc["id"]) or ""
            if not error and incremental is not None:
                previous = incremental.get("previous_snapshot_identity")
                if previous != current:
                    error = (
                        f"delta snapshot {identity} is based on {previous}, but the replicas serve {current}"
                    )
            adapters = [a["identity"] for a in status.get("loaded_adapters", [])]
            lora = record is not None and record.get("checkpointType") == "CHECKPOINT_TYPE_INFERENCE_LORA"
            doc["hotload"] = {"current": current, "target": identity, "startedAt": now, "error": error,
                              "adapters": adapters, "lora": lora, "adaptersOnly": self.faults.adapters_only}
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

    def _snapshot_record(self, doc: Doc, identity: str) -> Doc | None:
        """The stored snapshot ``identity`` of a trainer feeding this deployment (its type, base), or None."""
        account, dep = doc["account"], doc["id"]
        attached = TRAINER_NAME_RE.match(doc.get("hotLoadTrainerJob") or "")
        jobs = [attached.group(2)] if attached else []
        jobs += [d["id"] for d, _ in self.store.list_trainers(account) if d.get("hotLoadDeploymentId") == dep]
        for job in jobs:
            for snap in self.store.list_snapshots(account, job):
                if snap.get("identity") == identity:
                    return snap
        return None

    def status(self, deployment: str | None, model: str | None) -> dict[str, Any]:
        doc, state = self._target(deployment, model)
        return life.hotload_status(doc, state, self.clock(), self.speed)
