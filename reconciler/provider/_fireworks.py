"""``FireworksProvider``: the Fireworks control plane, trainer gateway and hot-load API over httpx.

Speaks the official training SDK's protocol (headers, query strings, bodies, 409 handling) with bounded
concurrency, retries (408/429/5xx, connection errors; backoff with full jitter, ``Retry-After``) in a budget.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import quote

import httpx

from reconciler.model.remote import (
    TOMBSTONE_JOB_STATES,
    BaseModelInfo,
    Checkpoint,
    DeploymentConfig,
    DeploymentInfo,
    DeploymentShapeVersion,
    HotLoadStatus,
    TrainerConfig,
    TrainerJob,
    TrainingShapeVersion,
)
from reconciler.provider import _inference, _wire
from reconciler.provider._catalog_reads import CatalogReads
from reconciler.provider._quotas import QuotaReads
from reconciler.provider._retry import (
    BACKOFF_BASE_S,
    BACKOFF_CAP_S,
    RETRYABLE_EXCEPTIONS,
    AdaptiveLimit,
    origin,
    retry_after_s,
    retryable_response,
)
from reconciler.provider.errors import AuthError, Conflict, NotFound, ProviderError, ValidationError

logger = logging.getLogger("fwctl.provider")

LIST_PAGE_SIZE = 200
CHECKPOINT_PAGE_SIZE = 200
HEALTHZ_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 30.0
# A control plane never reached at all is given up on sooner than the per-request budget: a wrong
# or dead endpoint should fail in seconds, not minutes.
UNREACHABLE_BUDGET_S = 15.0


class FireworksProvider(QuotaReads, CatalogReads, _inference.InferenceProbe):
    """The Fireworks REST API, for fwctl. Use as ``async with FireworksProvider(url, key) as p``."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        gateway_url: str | None = None,
        hotload_url: str | None = None,
        max_concurrency: int = 16,
        retry_budget_s: float = 120.0,
        timeout_s: float = 60.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.gateway_url = (gateway_url or base_url).rstrip("/")
        self.hotload_url = (hotload_url or base_url).rstrip("/")
        self._api_key = api_key
        self.retry_budget_s = retry_budget_s
        self.timeout_s = timeout_s
        self.requests = 0  # HTTP requests sent (attempts, retries included)
        self.retries = 0  # of which retries
        self._semaphore = AdaptiveLimit(max_concurrency)
        self._paused_until = 0.0  # after a Retry-After: every request waits, not only the throttled one
        self._reached = False  # has the control plane ever answered?
        self._account: str | None = None
        self._account_lock = asyncio.Lock()
        self._hot_load_reset_supported = True
        self._sleep: Callable[[float], Awaitable[None]] = asyncio.sleep  # seams for tests
        self._clock: Callable[[], float] = time.monotonic
        self._client = httpx.AsyncClient(
            transport=transport,
            timeout=httpx.Timeout(timeout_s),
            follow_redirects=False,
        )

    @classmethod
    def in_process(cls, asgi_app: Any, api_key: str, **kwargs: Any) -> FireworksProvider:
        """A provider of a control plane served in this process (the embedded local one), no socket."""
        return cls("http://fwctl-local", api_key, transport=httpx.ASGITransport(app=asgi_app), **kwargs)

    def __repr__(self) -> str:
        return f"FireworksProvider(base_url={self.base_url!r})"

    async def __aenter__(self) -> FireworksProvider:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    # -- transport ----------------------------------------------------------------------------

    def _headers(self, *, bearer: bool = False, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "X-Api-Key": self._api_key}
        if bearer:
            headers["Authorization"] = f"Bearer {self._api_key}"
        if extra:
            headers.update(extra)
        return headers

    def _redact(self, text: str) -> str:
        return text.replace(self._api_key, "***") if self._api_key else text

    def _retry_delay(self, attempt: int, response: httpx.Response | None) -> float:
        if response is not None:
            after = retry_after_s(response.headers.get("retry-after"))
            if after is not None:
                return after
        return random.uniform(0.0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * (2**attempt)))

    async def _request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        bearer: bool = False,
        extra_headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        retry: bool = True,
    ) -> httpx.Response:
        """Send one logical request, retrying transient failures within the budget.

        Returns the final response whatever its status (callers decide what 404 / 409 mean);
        raises ``ProviderError`` when no response could be had.
        """
        headers = self._headers(bearer=bearer, extra=extra_headers)
        first = self._clock()
        deadline = first + self.retry_budget_s
        path = httpx.URL(url).raw_path.decode("ascii", "replace")
        attempt = 0
        while True:
            pause = self._paused_until - self._clock()
            if retry and pause > 0:
                await self._sleep(pause + random.uniform(0.0, 0.1 * pause))
            started = time.monotonic()
            response: httpx.Response | None = None
            failure: Exception | None = None
            async with self._semaphore:
                pause = self._paused_until - self._clock()
                if retry and pause > 0:  # paused while queued for a slot: wait here, holding it
                    await self._sleep(pause)
                self.requests += 1
                if attempt:
                    self.retries += 1
                try:
                    response = await self._client.request(
                        method,
                        url,
                        params=params,
                        json=json,
                        headers=headers,
                        timeout=timeout if timeout is not None else self.timeout_s,
                    )
                except RETRYABLE_EXCEPTIONS as exc:
                    failure = exc
                except httpx.HTTPError as exc:
                    raise ProviderError(
                        self._redact(f"{method} {origin(url)}{path}: {type(exc).__name__}: {exc}")
                    ) from None
            elapsed = time.monotonic() - started
            if response is not None:
                self._reached = True
                logger.debug("%s %s -> %d (%.3fs)", method, path, response.status_code, elapsed)
                if response.status_code == 429:
                    self._semaphore.throttled()
                else:
                    self._semaphore.succeeded()
                if not retry or not retryable_response(response):
                    return response
            else:
                logger.debug("%s %s -> %s (%.3fs)", method, path, type(failure).__name__, elapsed)
            delay = self._retry_delay(attempt, response)
            if response is not None and response.status_code in (429, 503) and response.headers.get("retry-after"):
                self._paused_until = max(self._paused_until, self._clock() + delay)
            give_up_at = deadline if self._reached else min(deadline, first + UNREACHABLE_BUDGET_S)
            if not retry or self._clock() + delay > give_up_at:
                if response is not None:
                    return response
                raise ProviderError(
                    self._redact(
                        f"{method} {origin(url)}{path} failed: {type(failure).__name__}: {failure or 'error'}"
                        + (f" (gave up after {attempt + 1} attempts)" if retry else "")
                    ),
                    retryable=True,
                ) from None
            await self._sleep(delay)
            attempt += 1

    def _error(self, response: httpx.Response, context: str) -> ProviderError:
        """The ``ProviderError`` for a failed response."""
        status = response.status_code
        try:
            body = response.json()
        except ValueError:
            body = None
        detail = self._redact(_wire.parse_api_error(body, response.text))
        where = f"{context}: HTTP {status}"
        if status in (401, 403):
            verb = "rejected" if status == 401 else "not allowed for this resource"
            return AuthError(
                f"{where}: the API key was {verb} by {self.base_url} ({detail}); check FIREWORKS_API_KEY",
                status=status,
            )
        if status == 400:
            return ValidationError(f"{where}: {detail}", status=status)
        if status == 404:
            return NotFound(f"{where}: {detail}", status=status)
        if status == 409:
            return Conflict(f"{where}: {detail}", status=status)
        return ProviderError(f"{where}: {detail}", status=status, retryable=retryable_response(response))

    async def _json(self, response: httpx.Response, context: str) -> Any:
        if not response.is_success:
            raise self._error(response, context)
        try:
            return response.json()
        except ValueError:
            raise ProviderError(
                f"{context}: HTTP {response.status_code} with a body that is not JSON: {response.text[:200]!r}"
            ) from None

    async def _get_or_none(self, url: str, context: str) -> Any | None:
        response = await self._request("GET", url, timeout=min(READ_TIMEOUT_S, self.timeout_s))
        if response.status_code == 404:
            return None
        return await self._json(response, context)

    async def _paginate(self, url: str, keys: tuple[str, ...], page_size: int, context: str) -> list[Any]:
        items: list[Any] = []
        token = ""
        seen: set[str] = set()
        while True:
            params = {"pageSize": str(page_size)}
            if token:
                params["pageToken"] = token
            response = await self._request(
                "GET", url, params=params, timeout=min(READ_TIMEOUT_S, self.timeout_s)
            )
            data = await self._json(response, context)
            if not isinstance(data, Mapping):
                raise ProviderError(f"{context}: expected a JSON object, got {type(data).__name__}")
            for key in keys:
                if isinstance(data.get(key), list):
                    items.extend(data[key])
                    break
            token = str(data.get("nextPageToken") or data.get("next_page_token") or "")
            if not token:
                return items
            if token in seen:
                raise ProviderError(f"{context}: the server repeated page token {token!r}")
            seen.add(token)

    # -- account ------------------------------------------------------------------------------

    async def account_id(self) -> str:
        if self._account is not None:
            return self._account
        async with self._account_lock:
            if self._account is None:
                context = f"resolving the account of the API key at {self.base_url}"
                response = await self._request("GET", f"{self.base_url}/v1/accounts?pageSize=2")
                data = await self._json(response, context)
                accounts = (data.get("accounts") if isinstance(data, Mapping) else None) or []
                if not accounts:
                    raise ProviderError(
                        f"{context}: the API key is not associated with any Fireworks account"
                    )
                if len(accounts) > 1:
                    ids = [str(_wire._obj(a).get("name", "")).removeprefix("accounts/") for a in accounts]
                    raise ProviderError(
                        f"{context}: the API key has access to several accounts {ids}; "
                        "fwctl needs a key bound to exactly one"
                    )
                account = str(_wire._obj(accounts[0]).get("name", "")).removeprefix("accounts/")
                if not account:
                    raise ProviderError(f"{context}: the account has no name")
                self._account = account
        assert self._account is not None
        return self._account

    async def _account_url(self, suffix: str) -> str:
        return f"{self.base_url}/v1/accounts/{await self.account_id()}/{suffix}"

    # -- trainer jobs -------------------------------------------------------------------------

    async def list_trainer_jobs(self) -> list[TrainerJob]:
        url = await self._account_url("rlorTrainerJobs")
        rows = await self._paginate(url, ("rlorTrainerJobs",), LIST_PAGE_SIZE, "listing trainer jobs")
        return [_wire.trainer_job_from_wire(row) for row in rows if isinstance(row, Mapping)]

    async def get_trainer_job(self, job_id: str) -> TrainerJob | None:
        url = await self._account_url(f"rlorTrainerJobs/{job_id}")
        data = await self._get_or_none(url, f"reading trainer job {job_id}")
        return None if data is None else _wire.trainer_job_from_wire(data)

    async def _create(self, collection: str, request: Any, context: str, read_back: Any, parse: Any) -> Any:
        """POST a create with a client-chosen id; a 409 reads the existing resource back (idempotent).

        ``request`` builds ``(query, body)`` (its ValueError is the caller's invalid input);
        ``read_back`` GETs the resource by id (None when absent); ``parse`` maps the created JSON.
        """
        try:
            query, body = request()
        except ValueError as exc:
            raise ValidationError(f"{context}: {exc}") from None
        response = await self._request("POST", f"{await self._account_url(collection)}?{query}", json=body)
        if response.status_code == 409:
            existing = await read_back()
            if existing is None:
                raise self._error(response, context)
            return existing
        return parse(await self._json(response, context))

    async def create_trainer_job(self, job_id: str, config: TrainerConfig) -> TrainerJob:
        context = f"creating trainer job {job_id}"
        created: TrainerJob = await self._create(
            "rlorTrainerJobs", lambda: _wire.trainer_create_request(job_id, config), context,
            lambda: self.get_trainer_job(job_id), _wire.trainer_job_from_wire)
        if created.state in TOMBSTONE_JOB_STATES:  # a 409 found the id's tombstone
            raise ProviderError(
                f"{context}: trainer job {job_id} was deleted ({created.state}) and its id cannot be "
                "reused; choose a new jobId",
                status=409,
            )
        return created

    async def delete_trainer_job(self, job_id: str) -> None:
        url = await self._account_url(f"rlorTrainerJobs/{job_id}")
        response = await self._request("DELETE", url)
        if response.status_code != 404 and not response.is_success:
            raise self._error(response, f"deleting trainer job {job_id}")
        if response.status_code == 404 and (job := await self.get_trainer_job(job_id)) is not None and not job.gone:
            raise ProviderError(f"deleting trainer job {job_id}: the platform answered 404 (not found) but lists the "
                                f"job as {job.state}; it was not deleted (waiting would last the delete timeout)", status=404)

    async def resume_trainer_job(self, job_id: str) -> TrainerJob:
        context = f"resuming trainer job {job_id}"
        url = await self._account_url(f"rlorTrainerJobs/{job_id}:resume")
        response = await self._request("POST", url)
        if not response.is_success:
            raise self._error(response, context)
        job = await self.get_trainer_job(job_id)
        if job is None:
            raise NotFound(f"{context}: the job disappeared after the resume", status=404)
        return job

    async def list_checkpoints(self, job_id: str) -> list[Checkpoint]:
        url = await self._account_url(f"rlorTrainerJobs/{job_id}/checkpoints")
        rows = await self._paginate(
            url,
            ("checkpoints", "rlorTrainerJobCheckpoints"),
            CHECKPOINT_PAGE_SIZE,
            f"listing checkpoints of trainer job {job_id}",
        )
        return [_wire.checkpoint_from_wire(row) for row in rows if isinstance(row, Mapping)]

    async def trainer_gateway_url(self, job_id: str) -> str:
        return f"{self.gateway_url}/training/v1/rlorTrainerJobs/{await self.account_id()}/{job_id}"

    async def trainer_healthy(self, job_id: str) -> bool:
        url = f"{await self.trainer_gateway_url(job_id)}/api/v1/healthz"
        try:
            response = await self._request("GET", url, bearer=True, timeout=HEALTHZ_TIMEOUT_S, retry=False)
        except ProviderError:
            return False
        return response.status_code == 200

    # -- deployments --------------------------------------------------------------------------

    async def list_deployments(self) -> list[DeploymentInfo]:
        url = await self._account_url("deployments")
        rows = await self._paginate(url, ("deployments",), LIST_PAGE_SIZE, "listing deployments")
        return [_wire.deployment_from_wire(row) for row in rows if isinstance(row, Mapping)]

    async def get_deployment(self, dep_id: str) -> DeploymentInfo | None:
        url = await self._account_url(f"deployments/{dep_id}")
        data = await self._get_or_none(url, f"reading deployment {dep_id}")
        return None if data is None else _wire.deployment_from_wire(data)

    async def create_deployment(self, dep_id: str, config: DeploymentConfig) -> DeploymentInfo:
        created: DeploymentInfo = await self._create(
            "deployments", lambda: _wire.deployment_create_request(dep_id, config), f"creating deployment {dep_id}",
            lambda: self.get_deployment(dep_id), _wire.deployment_from_wire)
        return created

    async def update_deployment(self, dep_id: str, changes: Mapping[str, Any]) -> DeploymentInfo:
        context = f"updating deployment {dep_id}"
        try:
            mask, body = _wire.deployment_update_request(changes)
        except ValueError as exc:
            raise ValidationError(f"{context}: {exc}") from None
        url = await self._account_url(f"deployments/{dep_id}")
        response = await self._request("PATCH", url, params={"updateMask": mask}, json=body)
        return _wire.deployment_from_wire(await self._json(response, context))

    async def delete_deployment(self, dep_id: str) -> None:
        url = await self._account_url(f"deployments/{dep_id}?ignoreChecks=true&hard=true")
        response = await self._request("DELETE", url)
        if response.status_code != 404 and not response.is_success:
            raise self._error(response, f"deleting deployment {dep_id}")

    # -- the catalog: models and shapes ------------------------------------------------------

    async def get_model(self, name: str) -> BaseModelInfo | None:
        """A base model by full name (``accounts/fireworks/models/qwen3-8b``); None when there is none."""
        context = f"reading model {name}"
        if not _wire.MODEL_RE.match(name):
            raise ValidationError(f"{context}: expected accounts/<account>/models/<model>")
        data = await self._get_or_none(f"{self.base_url}/v1/{name}", context)
        return None if data is None else _wire.model_from_wire(_wire._obj(data))

    async def _shape_version(self, name: str, kind: str, pattern: Any, list_key: str) -> Any:
        """The version object; ``NotFound`` ending "not found" or "the shape has no validated version"."""
        context = f"resolving {kind} {name}"
        if not pattern.match(name):
            raise ValidationError(f"{context}: expected accounts/<account>/{kind}s/<shape>[/versions/<version>]")
        versioned = _wire.is_versioned(name)
        query = "" if versioned else f"/versions?filter={quote('latest_validated=true')}&pageSize=1"
        url = f"{self.base_url}/v1/{name if versioned else name.split('/versions/')[0]}{query}"
        data = await self._get_or_none(url, context)
        if data is None:
            raise NotFound(f"{context}: not found", status=404)
        if versioned:
            return data
        versions = (data.get(list_key) if isinstance(data, Mapping) else None) or []
        if not versions or not isinstance(versions[0], Mapping):
            raise NotFound(f"{context}: the shape has no validated version", status=404)
        return versions[0]

    async def get_training_shape_version(self, name: str) -> TrainingShapeVersion:
        data = await self._shape_version(name, "trainingShape", _wire.TRAINING_SHAPE_RE, "trainingShapeVersions")
        return _wire.training_shape_version_from_wire(data)

    async def get_deployment_shape_version(self, name: str) -> DeploymentShapeVersion:
        data = await self._shape_version(
            name, "deploymentShape", _wire.DEPLOYMENT_SHAPE_RE, "deploymentShapeVersions"
        )
        return _wire.deployment_shape_version_from_wire(data)

    # -- hot load -----------------------------------------------------------------------------

    async def _hot_load_headers(self, dep_id: str, base_model: str) -> dict[str, str]:
        return {
            "fireworks-model": base_model,
            "fireworks-deployment": f"accounts/{await self.account_id()}/deployments/{dep_id}",
        }

    async def hot_load(self, dep_id: str, base_model: str, identity: str) -> None:
        context = f"hot-loading {identity} onto deployment {dep_id}"
        url = f"{self.hotload_url}/hot_load/v1/models/hot_load"
        headers = await self._hot_load_headers(dep_id, base_model)
        body: dict[str, Any] = {"identity": identity}
        if self._hot_load_reset_supported:
            body["reset_prompt_cache"] = True
        response = await self._request("POST", url, json=body, bearer=True, extra_headers=headers)
        if response.status_code == 400 and "reset_prompt_cache" in body and _rejects_reset(response):
            # An older serving gateway: the SDK drops the field for good and retries at once.
            self._hot_load_reset_supported = False
            body.pop("reset_prompt_cache")
            response = await self._request("POST", url, json=body, bearer=True, extra_headers=headers)
        await self._json(response, context)

    async def hot_load_status(self, dep_id: str, base_model: str) -> HotLoadStatus:
        context = f"reading the hot-load status of deployment {dep_id}"
        url = f"{self.hotload_url}/hot_load/v1/models/hot_load"
        headers = await self._hot_load_headers(dep_id, base_model)
        response = await self._request(
            "GET", url, bearer=True, extra_headers=headers, timeout=min(READ_TIMEOUT_S, self.timeout_s)
        )
        data = await self._json(response, context)
        try:
            return _wire.hot_load_status_from_wire(data)
        except ValueError as exc:
            raise ProviderError(f"{context}: {exc}") from None


def _rejects_reset(response: httpx.Response) -> bool:
    text = response.text.lower()
    return "reset_prompt_cache" in text and "extra inputs are not permitted" in text
