"""The ASGI app: routes, authentication, fault injection and statistics around the control plane."""

from __future__ import annotations

import asyncio
import json
import secrets
import sqlite3
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from reconciler.local import _jwt
from reconciler.local import _trainer_states as states
from reconciler.local._bootstrap import add_routes as add_bootstrap_routes
from reconciler.local._catalog import load_catalog
from reconciler.local._config import LocalConfig
from reconciler.local._deployments import Deployments
from reconciler.local._errors import ApiError, invalid, not_found
from reconciler.local._faults import DeleteError, ErrorBurst, Faults, RateLimiter, Stats
from reconciler.local._hotload import HotLoad
from reconciler.local._inference import add_routes as add_inference_routes
from reconciler.local._models import Models
from reconciler.local._plane import Plane
from reconciler.local._shapes import Shapes
from reconciler.local._store import Store
from reconciler.local._trainers import Trainers
from reconciler.local._training import Training
from reconciler.local._training_routes import training_gateway
from reconciler.local._validate import check_object

JWT_TTL_S = 3600
# 0 is not an HTTP status: the request takes effect, then the connection drops before the answer.
INJECTABLE_STATUSES = (0, 408, 429, 500, 502, 503, 504)
FAULT_BODY = {
    "kind": "str",
    "trainer": "str",
    "deployment": "str",
    "account": "str",
    "message": "str",
    "rate": "num",
    "statuses": "list",
    "count": "int",
    "ms": "num",
    "methods": "list",
    "pendingSeconds": "num", "reject": "bool",
    "status": "int",
}

Handler = Callable[[Request], Awaitable[Any]]


class _Dropped(Response):
    """Headers that promise a body which never comes: uvicorn closes the connection, and the client
    sees it drop mid-answer (httpx: RemoteProtocolError), after the request took effect."""

    def __init__(self) -> None:
        super().__init__(status_code=200, headers={"content-length": "64"})

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})


class _App:
    """Everything one app instance holds: the plane and its resources, faults and counters."""

    def __init__(self, config: LocalConfig, clock: Callable[[], float]) -> None:
        self.clock = clock
        store = Store(config.db_path)
        self.faults = Faults()
        self.stats = Stats()
        self.plane = Plane(store, load_catalog(config.catalog_path), config, self.faults, clock)
        self.trainers = Trainers(self.plane)
        self.deployments = Deployments(self.plane)
        self.hotload = HotLoad(self.plane)
        self.shapes = Shapes(self.plane.catalog)
        from reconciler.local._quotas import Quotas

        self.plane.quotas = Quotas(self.plane, dict(config.quotas))
        self.models = Models(self.plane.catalog)
        self.admin_keys = frozenset(config.admin_keys)
        self.keys = frozenset(config.api_keys) | self.admin_keys
        self.jwt_secret = store.meta("jwt_secret", secrets.token_hex(32))
        self.limiter = RateLimiter(config.rate_limit) if config.rate_limit else None

    # -- plumbing ---------------------------------------------------------------------------------

    def _presented(self, request: Request) -> list[str]:
        found = []
        key = request.headers.get("x-api-key")
        if key:
            found.append(key)
        auth = request.headers.get("authorization", "")
        if auth[:7].lower() == "bearer ":
            found.append(auth[7:].strip())
        return found

    def elevated(self, request: Request) -> bool:
        """Did the caller present a superuser (admin) key?"""
        return any(k in self.admin_keys for k in self._presented(request))

    def _authenticate(self, request: Request, kind: str) -> None:
        presented = self._presented(request)
        if any(k in self.keys for k in presented):
            return
        if kind == "gateway":
            account = request.path_params.get("account", "")
            job = request.path_params.get("job", "")
            for token in presented:
                claims = _jwt.decode(token, self.jwt_secret, self.clock())
                if claims and claims.get("sub") == job and claims.get("acct") == account:
                    return
        # never echo what was presented
        raise ApiError(401, "The API key is missing or invalid: send X-Api-Key or Authorization: Bearer")

    def endpoint(self, kind: str, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        """Wrap a handler: rate limit, auth, injected faults, JSON answers, error envelopes, counters."""

        async def run(request: Request) -> Response:
            response: Response
            drop = False
            try:
                if kind != "public":
                    if kind != "admin" and self.limiter is not None and not self.limiter.allow():
                        self.stats.rate_limited += 1
                        raise ApiError(429, "rate limit exceeded; retry later", headers={"Retry-After": "1"})
                    self._authenticate(request, kind)
                if kind in ("api", "hotload"):
                    injected = self.faults.pick_error()
                    if injected == 0:
                        self.stats.injected[0] += 1
                        drop = True
                    elif injected is not None:
                        self.stats.injected[injected] += 1
                        retry = {"Retry-After": "1"} if injected in (429, 503) else {}
                        raise ApiError(injected, f"injected fault: HTTP {injected}", headers=retry)
                    delay = self.faults.delay_s(request.method)
                    if delay:
                        await asyncio.sleep(delay)
                result = await handler(request)
                response = result if isinstance(result, Response) else JSONResponse(result)
                if drop:
                    response = _Dropped()
            except ApiError as err:
                body = err.body()
                if kind == "gateway":
                    body["detail"] = err.message
                response = JSONResponse(body, status_code=err.http_status, headers=err.headers)
            except sqlite3.OperationalError as err:
                if "locked" in str(err):
                    self.stats.db_locked += 1
                failure = ApiError(503, f"storage busy: {err}", headers={"Retry-After": "1"})
                response = JSONResponse(failure.body(), status_code=503, headers=failure.headers)
            self.stats.by_status[response.status_code] += 1
            return response

        return run


async def _json_body(request: Request, *, empty: Any = None) -> Any:
    raw = await request.body()
    if not raw.strip():
        if empty is not None:
            return empty
        raise invalid("a JSON request body is required")
    try:
        return json.loads(raw)
    except ValueError as err:
        raise invalid(f"Invalid JSON payload received: {err}") from None


def create_app(config: LocalConfig, *, clock: Callable[[], float] = time.time) -> Starlette:
    """The local Fireworks control plane as an ASGI app (uvicorn or ``httpx.ASGITransport``)."""
    app = _App(config, clock)
    plane, trainers, deployments, hotload, shapes = app.plane, app.trainers, app.deployments, app.hotload, app.shapes
    training = Training(plane, trainers.create_snapshot)
    routes: list[Route] = []

    def add(path: str, methods: list[str], kind: str, handler: Handler) -> None:
        routes.append(Route(path, app.endpoint(kind, handler), methods=methods))

    # -- accounts -------------------------------------------------------------------------------
    async def accounts(request: Request) -> Any:
        return plane.accounts()

    async def account(request: Request) -> Any:
        plane.check_account(request.path_params["account"])
        return plane.account_json()

    add("/v1/accounts", ["GET"], "api", accounts)

    async def quotas(request: Request) -> Any:
        return plane.quotas.list(request.path_params["account"])

    async def quota(request: Request) -> Any:
        return plane.quotas.get(request.path_params["account"], request.path_params["quota"])

    async def set_quota(request: Request) -> Any:
        body = check_object(await _json_body(request), {"value": "num"}, "quota")
        if "value" not in body:
            raise invalid('a quota update names its value: {"value": N}')
        return plane.quotas.set(request.path_params["quota"], float(body["value"]))

    add("/v1/accounts/{account}/quotas", ["GET"], "api", quotas)
    add("/v1/accounts/{account}/quotas/{quota}", ["GET"], "api", quota)
    add("/_local/v1/quotas/{quota}", ["PUT"], "admin", set_quota)
    add("/v1/accounts/{account}", ["GET"], "api", account)
    add_bootstrap_routes(add, app, _json_body)  # models/checkpoints/:scale/:undelete: before the {dep} route

    def injected_delete_error(account: str, collection: str, resource: str) -> None:
        """A delete-error fault armed for this resource: its DELETE fails and changes nothing."""
        status = app.faults.take_delete_error(account, collection, resource)
        if status is not None:
            app.stats.injected[status] += 1
            raise ApiError(status, f"injected fault: deleting {resource} failed (HTTP {status})")

    # -- trainer jobs ---------------------------------------------------------------------------
    async def trainer_collection(request: Request) -> Any:
        account = request.path_params["account"]
        if request.method == "POST":
            return trainers.create_trainer(account, request.query_params, await _json_body(request),
                                           elevated=app.elevated(request))
        return trainers.list_trainers(account, request.query_params)

    async def trainer(request: Request) -> Any:
        account = request.path_params["account"]
        job, _, verb = request.path_params["job"].partition(":")
        if request.method == "POST":
            await _json_body(request, empty={})
            if verb == "resume":
                return trainers.resume_trainer(account, job)
            if verb == "cancel":
                return trainers.stop_trainer(account, job, "JOB_STATE_CANCELLED", "cancelled by the user", 1)
            raise not_found(f"unknown method :{verb} on rlorTrainerJobs")
        if verb:
            raise not_found(f"unknown method :{verb} on rlorTrainerJobs")
        if request.method == "DELETE":
            injected_delete_error(account, "rlorTrainerJobs", job)
            return trainers.delete_trainer(account, job)
        return trainers.get_trainer(account, job)

    async def checkpoints(request: Request) -> Any:
        p = request.path_params
        return trainers.list_checkpoints(p["account"], p["job"], request.query_params)

    add("/v1/accounts/{account}/rlorTrainerJobs", ["GET", "POST"], "api", trainer_collection)
    add("/v1/accounts/{account}/rlorTrainerJobs/{job}", ["GET", "DELETE", "POST"], "api", trainer)
    add("/v1/accounts/{account}/rlorTrainerJobs/{job}/checkpoints", ["GET"], "api", checkpoints)

    # -- deployments ----------------------------------------------------------------------------
    async def deployment_collection(request: Request) -> Any:
        account = request.path_params["account"]
        if request.method == "POST":
            return deployments.create_deployment(account, request.query_params, await _json_body(request))
        return deployments.list_deployments(account, request.query_params)

    async def deployment(request: Request) -> Any:
        account, dep = request.path_params["account"], request.path_params["dep"]
        if request.method == "PATCH":
            body = await _json_body(request)
            return deployments.patch_deployment(account, dep, request.query_params.get("updateMask"), body)
        if request.method == "DELETE":
            injected_delete_error(account, "deployments", dep)
            return deployments.delete_deployment(account, dep, request.query_params)
        return deployments.get_deployment(account, dep)

    add("/v1/accounts/{account}/deployments", ["GET", "POST"], "api", deployment_collection)
    add("/v1/accounts/{account}/deployments/{dep}", ["GET", "PATCH", "DELETE"], "api", deployment)

    # -- the catalog: models and shapes (public: readable under the account that publishes them) ----
    async def list_models(request: Request) -> Any:
        return app.models.list_models(request.path_params["account"], request.query_params)

    async def get_model(request: Request) -> Any:
        return app.models.get_model(request.path_params["account"], request.path_params["model"])

    add("/v1/accounts/{account}/models", ["GET"], "api", list_models)
    add("/v1/accounts/{account}/models/{model}", ["GET"], "api", get_model)

    for kind in ("trainingShapes", "deploymentShapes"):

        def shape_handlers(kind: str = kind) -> tuple[Handler, Handler, Handler, Handler]:
            async def list_shapes(request: Request) -> Any:
                return shapes.list_shapes(kind, request.path_params["account"], request.query_params)

            async def shape(request: Request) -> Any:
                return shapes.get_shape(kind, request.path_params["account"], request.path_params["shape"])

            async def versions(request: Request) -> Any:
                p = request.path_params
                return shapes.list_shape_versions(kind, p["account"], p["shape"], request.query_params)

            async def version(request: Request) -> Any:
                p = request.path_params
                return shapes.get_shape_version(kind, p["account"], p["shape"], p["version"])

            return list_shapes, shape, versions, version

        list_h, shape_h, versions_h, version_h = shape_handlers()
        base = f"/v1/accounts/{{account}}/{kind}"
        add(base, ["GET"], "api", list_h)
        add(base + "/{shape}", ["GET"], "api", shape_h)
        add(base + "/{shape}/versions", ["GET"], "api", versions_h)
        add(base + "/{shape}/versions/{version}", ["GET"], "api", version_h)

    # -- hot load -------------------------------------------------------------------------------
    async def hot_load(request: Request) -> Any:
        dep = request.headers.get("fireworks-deployment")
        model = request.headers.get("fireworks-model")
        if request.method == "POST":
            return hotload.load(dep, model, await _json_body(request))
        return hotload.status(dep, model)

    add("/hot_load/v1/models/hot_load", ["GET", "POST"], "hotload", hot_load)
    add_inference_routes(add, app, _json_body)  # /inference/v1/completions, admin /_local/v1/inference

    # -- the trainer gateway (Tinker protocol subset) -------------------------------------------
    async def gateway(request: Request) -> Any:
        account, job = request.path_params["account"], request.path_params["job"]
        rest = request.path_params["rest"].strip("/")
        doc, state = trainers.gateway_trainer(account, job)
        if rest == "healthz" and request.method == "GET":
            if state == "JOB_STATE_RUNNING":
                return {"status": "ok"}
            return JSONResponse({"status": state, "detail": f"trainer {job} is {state}"}, status_code=503)
        if rest == "telemetry" and request.method == "POST":
            return {"status": "accepted"}
        if state != "JOB_STATE_RUNNING":
            raise ApiError(503, f"trainer {job} is {state}", headers={"Retry-After": "1"})
        trainers.touch(account, job)
        if (switched := states.gateway_switch(app.faults, rest)) is not None:
            return switched
        if rest == "client/config" and request.method == "POST":
            return {"pjwt_auth_enabled": True, "credential_default_source": "api_key"}
        if rest == "client/dynamic_config" and request.method == "POST":
            return {}
        if rest == "auth/token" and request.method == "POST":
            now = app.clock()
            claims = {
                "sub": job,
                "acct": account,
                "iss": "fwctl-local",
                "iat": int(now),
                "exp": int(now) + JWT_TTL_S,
            }
            return {"jwt": _jwt.encode(claims, app.jwt_secret)}
        if rest == "get_server_capabilities" and request.method == "GET":
            tc = doc["trainingConfig"]
            model = {
                "model_name": tc["baseModel"],
                "max_context_length": tc["maxContextLength"],
                "trainable": not doc.get("forwardOnly", False),
                "sampleable": False,
            }
            return {"supported_models": [model]}
        if rest.startswith("training_runs/") and rest.endswith("/checkpoints") and request.method == "GET":
            return trainers.tinker_checkpoints(account, job)
        answer = await training_gateway(training, request, account, job, doc, rest)
        if answer is not None:
            return answer
        raise not_found(f"{request.method} /api/v1/{rest} is not emulated by the local control plane")

    add(
        "/training/v1/rlorTrainerJobs/{account}/{job}/api/v1/{rest:path}",
        ["GET", "POST"],
        "gateway",
        gateway,
    )

    # -- admin: what a training loop or an outage would do --------------------------------------
    async def snapshots(request: Request) -> Any:
        p = request.path_params
        return trainers.create_snapshot(p["account"], p["job"], await _json_body(request))

    async def faults(request: Request) -> Any:
        if request.method == "DELETE":
            app.faults.clear()
            return {"faults": app.faults.describe()}
        if request.method == "GET":
            return {"faults": app.faults.describe()}
        return apply_fault(await _json_body(request))

    def apply_fault(raw: Any) -> dict[str, Any]:
        body = check_object(raw, FAULT_BODY, "fault")
        kind = body.get("kind", "")
        account = body.get("account", config.account)
        if kind in states.TRAINER_FAULTS:
            return states.trainer_fault(trainers, kind, account, body)
        if kind == "preempt":
            job = body.get("trainer") or ""
            if not job:
                raise invalid('a preempt fault names its trainer: {"kind": "preempt", "trainer": JOB}')
            message = body.get("message") or "preempted: the trainer's node was reclaimed; resume the job"
            result = trainers.stop_trainer(account, job, "JOB_STATE_FAILED", message, 14)
            return {"applied": kind, "rlorTrainerJob": result}
        if kind == "fail":
            dep = body.get("deployment") or ""
            if not dep:
                raise invalid('a fail fault names its deployment: {"kind": "fail", "deployment": ID}')
            message = body.get("message") or "deployment failed (injected fault): replicas crashed"
            return {"applied": kind, "deployment": deployments.fail_deployment(account, dep, message)}
        if kind == "errors":
            rate = float(body.get("rate", 1.0))
            statuses = body.get("statuses", [503])
            if not 0 < rate <= 1:
                raise invalid("errors.rate must be in (0, 1]")
            if (
                not isinstance(statuses, list)
                or not statuses
                or any(s not in INJECTABLE_STATUSES for s in statuses)
            ):
                raise invalid(
                    f"errors.statuses must be a non-empty list drawn from {list(INJECTABLE_STATUSES)}"
                )
            count = body.get("count")
            app.faults.errors = ErrorBurst(
                rate, tuple(int(s) for s in statuses), None if count is None else int(count)
            )
        elif kind == "hotload-error":
            dep = body.get("deployment") or ""
            if not dep:
                raise invalid('a hotload-error fault names its deployment: {"kind": "hotload-error", "deployment": ID}')
            message = body.get("message") or "hot load failed (injected fault): the replicas could not load the snapshot"
            app.faults.hotload_errors[(account, dep)] = message
        elif kind == "delete-error":
            target = [(c, body.get(f) or "") for c, f in (("rlorTrainerJobs", "trainer"), ("deployments", "deployment"))
                      if body.get(f)]
            if len(target) != 1:
                raise invalid('a delete-error fault names one trainer or deployment: '
                              '{"kind": "delete-error", "trainer": JOB, "status": 500}')
            status = int(body.get("status", 500))
            if not 400 <= status <= 599:
                raise invalid("delete-error.status must be an HTTP error status (400-599)")
            count = body.get("count")
            app.faults.delete_errors[(account, *target[0])] = DeleteError(status, None if count is None else int(count))
        elif kind == "latency":
            ms = float(body.get("ms", 0))
            if ms < 0 or ms > 60000:
                raise invalid("latency.ms must be in [0, 60000]")
            methods = body.get("methods", [])  # e.g. ["DELETE"]: a slow DELETE, every other request prompt
            if not isinstance(methods, list) or any(m not in ("GET", "POST", "PATCH", "PUT", "DELETE")
                                                    for m in methods):
                raise invalid("latency.methods must be a list of GET, POST, PATCH, PUT, DELETE")
            app.faults.latency_ms = ms
            app.faults.latency_methods = tuple(methods)
        elif kind == "capacity":
            seconds = float(body.get("pendingSeconds", 0))
            if seconds < 0:
                raise invalid("capacity.pendingSeconds must be >= 0")
            app.faults.capacity_pending_s, app.faults.capacity_reject = seconds, bool(body.get("reject", False))
        else:
            raise invalid(f"unknown fault kind {kind!r}: use preempt, fail, errors, latency, capacity, "
                          "hotload-error, delete-error, idle, early-stop, cancelling or requeue")
        return {"applied": kind, "faults": app.faults.describe()}

    async def stats(request: Request) -> Any:
        return app.stats.describe()

    async def inspect_trainer(request: Request) -> Any:
        p = request.path_params
        return trainers.inspect_trainer(p["account"], p["job"])

    async def inspect_deployment(request: Request) -> Any:
        p = request.path_params
        return deployments.inspect_deployment(p["account"], p["dep"])

    async def catalog(request: Request) -> Any:
        c = plane.catalog
        return {
            "models": sorted(c.models),
            "trainingShapes": sorted(c.training_shapes),
            "deploymentShapes": sorted(c.deployment_shapes),
            "regions": list(c.regions),
            "acceleratorHourlyPriceUsd": dict(c.accelerator_prices),
        }

    async def liveness(request: Request) -> Any:
        return {"status": "ok", "account": config.account, "speed": config.speed}

    add("/_local/v1/accounts/{account}/rlorTrainerJobs/{job}/snapshots", ["POST"], "admin", snapshots)
    add("/_local/v1/faults", ["GET", "POST", "DELETE"], "admin", faults)
    states.add_routes(add, app.faults)
    add("/_local/v1/stats", ["GET"], "admin", stats)
    # the whole local record of a resource (what the public answers leave out): for tests and debugging
    add("/_local/v1/accounts/{account}/rlorTrainerJobs/{job}", ["GET"], "admin", inspect_trainer)
    add("/_local/v1/accounts/{account}/deployments/{dep}", ["GET"], "admin", inspect_deployment)
    add("/_local/v1/catalog", ["GET"], "admin", catalog)
    add("/_local/healthz", ["GET"], "public", liveness)

    async def fallback(request: Request) -> Any:
        raise not_found(f"no route for {request.method} {request.url.path}")

    add("/{path:path}", ["GET", "POST", "PATCH", "PUT", "DELETE"], "public", fallback)

    return Starlette(routes=routes)
