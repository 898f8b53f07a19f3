"""What cookbook recipes and the SDK call around a training run that is not a trainer or deployment CRUD.

Registered by ``add_routes`` (one line in ``_app.create_app``, before the deployment routes: the
``{dep}`` route would otherwise take ``{dep}:scale``):

- ``POST /v1/accounts/{a}/checkpoints/{checkpoint}:promote``: ``FireworksClient.promote_checkpoint``.
  The body is the SDK's (``output_model``, ``trainer_job_id``, ``base_model``, optional
  ``hot_load_deployment_id`` and ``async_promotion``; the camelCase spellings too, as proto JSON
  accepts both). The answer is synchronous, ``{"model": Model}`` (the SDK reads ``model`` when no
  ``operation`` comes back). Refused: a checkpoint the trainer did not save (404), one that is not
  ``promotable`` (an incremental snapshot: 400 FAILED_PRECONDITION), a ``base_model`` other than the
  trainer's (400), an output model id that is not 1-63 of ``a-z0-9-`` (400, the SDK's own rule) or
  that exists (409). The promoted model is then readable at ``GET /v1/accounts/{a}/models/{id}``
  (kept in memory, like faults). LoRA checkpoints become ``HF_PEFT_ADDON`` models with
  ``peftDetails``, full-parameter ones ``HF_BASE_MODEL``.
- ``PATCH /v1/accounts/{a}/deployments/{d}:scale`` ``{"replicaCount": N}`` (the generated client's
  ``deployments.scale``): "Scale Deployment to a specific number of replicas or to zero". Assumption
  where the docs are silent: both replica bounds become N (what the SDK's ``scale_to_zero`` does with
  an updateMask PATCH for 0), through the same checks as a PATCH (quota, DELETING). Answers ``{}``.
- ``POST /v1/accounts/{a}/deployments/{d}:undelete`` (``deployments.undelete``): restores a deployment
  deleted without ``hard=true``; it comes back UPDATING, then READY, and holds its GPUs again (quota
  checked). A live deployment is a 400 FAILED_PRECONDITION, one still DELETING too; a purged one
  (``hard=true``, what fwctl and the SDK send) or an unknown one is 404.
- ``GET /v1/accounts/{a}/deployments?showDeleted=true``: the list also shows soft-deleted deployments,
  state ``DELETED`` with their ``deleteTime``, until their id is reused. A GET of a deleted deployment
  stays 404 (the local plane's rule since before: a delete is final for GET).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request

from reconciler.local import _lifecycle as life
from reconciler.local._errors import conflict, invalid, not_found, precondition
from reconciler.local._validate import check_object, paginate, parse_filter, query_bool

Handler = Callable[[Request], Awaitable[Any]]
Add = Callable[[str, list[str], str, Handler], None]

MODEL_ID_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
PROMOTE_BODY = {
    "output_model": "str", "outputModel": "str",
    "trainer_job_id": "str", "trainerJobId": "str",
    "base_model": "str", "baseModel": "str",
    "hot_load_deployment_id": "str", "hotLoadDeploymentId": "str",
    "async_promotion": "bool", "asyncPromotion": "bool",
}


def _field(body: dict[str, Any], snake: str) -> str:
    camel = re.sub(r"_([a-z])", lambda m: m.group(1).upper(), snake)
    return str(body.get(snake) or body.get(camel) or "")


class Bootstrap:
    def __init__(self, app: Any) -> None:
        self.plane = app.plane
        self.store = app.plane.store
        self.deployments = app.deployments
        self.models = app.models

    # -- checkpoints --------------------------------------------------------------------------------
    def promote(self, account: str, checkpoint: str, raw: Any) -> dict[str, Any]:
        self.plane.check_account(account)
        body = check_object(raw, PROMOTE_BODY, "promoteCheckpoint")
        output, job_name, base_model = (_field(body, f) for f in ("output_model", "trainer_job_id", "base_model"))
        if not output or not job_name or not base_model:
            raise invalid("output_model, trainer_job_id and base_model are required")
        prefix = f"accounts/{account}/models/"
        model_id = output[len(prefix):] if output.startswith(prefix) else ""
        if not MODEL_ID_RE.match(model_id):
            raise invalid(f"output_model {output!r} is not {prefix}<id> with an id of 1-63 characters a-z, 0-9 "
                          "or '-' (not starting or ending with '-')")
        match = re.match(rf"^accounts/{re.escape(account)}/rlorTrainerJobs/([^/]+)$", job_name)
        if not match:
            raise invalid(f"trainer_job_id {job_name!r} is not accounts/{account}/rlorTrainerJobs/<job>")
        found = self.store.get_trainer(account, match.group(1))
        if found is None:
            raise not_found(f"trainer job {job_name} not found")
        doc = found[0]
        snapshot = next((s for s in self.store.list_snapshots(account, match.group(1))
                         if checkpoint in (s.get("identity"), str(s.get("name", "")).rsplit("/", 1)[-1])), None)
        if snapshot is None:
            raise not_found(f"checkpoint {checkpoint} of trainer job {job_name} not found")
        if snapshot.get("promotable") is False:
            raise precondition(f"checkpoint {checkpoint} is not promotable (an incremental snapshot); promote a "
                               "full (base) checkpoint")
        config = doc["trainingConfig"]
        if base_model != config["baseModel"]:
            raise invalid(f"base_model {base_model} is not the base model of {job_name} ({config['baseModel']})")
        if output in self.models.promoted or output in self.plane.catalog.models:
            raise conflict(f"model {output} already exists")
        rank = int(config.get("loraRank") or 0)
        base = self.plane.catalog.models.get(base_model) or {}
        now = life.iso(self.plane.clock())
        model: dict[str, Any] = {
            "name": output,
            "displayName": model_id,
            "state": "READY",
            "kind": "HF_PEFT_ADDON" if rank else "HF_BASE_MODEL",
            "public": False,
            "createTime": now,
            "updateTime": now,
            "contextLength": int(base.get("maxContextLength", 0)),
            "supportsLora": not rank,
            "tunable": True,
            "snapshotType": "FULL_SNAPSHOT",
        }
        if rank:
            model["peftDetails"] = {"baseModel": base_model, "r": rank, "targetModules": ["all-linear"]}
        else:
            model["baseModelDetails"] = dict(base.get("baseModelDetails") or {})
        self.models.promoted[output] = model
        return {"model": dict(model)}

    # -- deployments --------------------------------------------------------------------------------
    def scale(self, account: str, dep: str, raw: Any) -> dict[str, Any]:
        body = check_object(raw, {"replicaCount": "int", "replica_count": "int"}, "scaleDeployment")
        count = body.get("replicaCount", body.get("replica_count"))
        if count is None:
            raise invalid('a scale names its replica count: {"replicaCount": N}')
        if int(count) < 0:
            raise invalid(f"replicaCount must be >= 0, not {count}")
        self.deployments.patch_deployment(account, dep, "min_replica_count,max_replica_count",
                                          {"minReplicaCount": int(count), "maxReplicaCount": int(count)})
        return {}

    def undelete(self, account: str, dep: str) -> dict[str, Any]:
        self.plane.check_account(account)
        with self.store.atomic():
            doc = self.store.get_deployment(account, dep)
            now = self.plane.clock()
            speed = self.plane.speed
            state = life.deployment_state(doc, now, speed) if doc else None
            if doc is None or (state is None and doc.get("hardDelete", True)):
                raise not_found(f"deployment accounts/{account}/deployments/{dep} not found")
            if state == "DELETING":
                raise precondition(f"deployment {dep} is still DELETING; undelete it once it is DELETED")
            if state is not None:
                raise precondition(f"deployment {dep} is {state}, not deleted")
            accelerator = str(doc.get("acceleratorType") or "")
            gpus = int(doc.get("acceleratorCount") or 1) * int(doc["maxReplicaCount"])
            self.plane.quotas.check(account, accelerator, gpus, f"deployment {dep}")
            doc["deletedAt"], doc["hardDelete"] = None, False
            doc["updatingUntil"] = now + life.UPDATING_S / speed
            doc["updateTime"] = now
            self.store.put_deployment(account, dep, doc)
            state = life.deployment_state(doc, now, speed) or "UPDATING"
        return self.deployments.render_deployment(doc, state)

    def list_deployments(self, account: str, query: Any) -> dict[str, Any]:
        if not query_bool(query, "showDeleted"):
            return dict(self.deployments.list_deployments(account, query))
        self.plane.check_account(account)
        wanted = parse_filter(query.get("filter"), {"state": "state", "base_model": "baseModel"})
        now = self.plane.clock()
        rows = []
        for doc in self.store.list_deployments(account):
            state = life.deployment_state(doc, now, self.plane.speed)
            if state is None and doc.get("hardDelete", True):
                continue  # purged
            rows.append(self.deployments.render_deployment(doc, state or "DELETED"))
        for field, value in wanted.items():
            rows = [r for r in rows if str(r.get(field, "")) == value]
        page, token = paginate(rows, query.get("pageSize"), query.get("pageToken"))
        return {"deployments": page, "nextPageToken": token, "totalSize": len(rows)}


def add_routes(add: Add, app: Any, json_body: Callable[..., Awaitable[Any]]) -> None:
    """Register the routes above (call before the deployment routes)."""
    boot = Bootstrap(app)

    async def promote(request: Request) -> Any:
        p = request.path_params
        return boot.promote(p["account"], p["checkpoint"], await json_body(request))

    async def scale(request: Request) -> Any:
        p = request.path_params
        return boot.scale(p["account"], p["dep"], await json_body(request))

    async def undelete(request: Request) -> Any:
        p = request.path_params
        await json_body(request, empty={})
        return boot.undelete(p["account"], p["dep"])

    async def deployments(request: Request) -> Any:
        return boot.list_deployments(request.path_params["account"], request.query_params)

    add("/v1/accounts/{account}/checkpoints/{checkpoint}:promote", ["POST"], "api", promote)
    add("/v1/accounts/{account}/deployments/{dep}:scale", ["PATCH"], "api", scale)
    add("/v1/accounts/{account}/deployments/{dep}:undelete", ["POST"], "api", undelete)
    add("/v1/accounts/{account}/deployments", ["GET"], "api", deployments)
