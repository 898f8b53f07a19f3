"""A trainer's gateway, as a training loop meets it: healthz, the JWT exchange, the tinker client.

Plain HTTP healthz first (so the tinker client's own long retry loop never starts against a dead
port), then the JWT exchange with the Fireworks key, then the real ``tinker.RestClient`` built and
called in a worker thread under a deadline. A gateway without the exchange is asked for its
capabilities with the raw key, as the SDK's own client does (``raw_key_capabilities``). Failures are ``HealthError``, one line each. The
order and the budget are the caller's (``reconciler.health``).

``tinker`` is imported lazily, inside the probe: it is heavy and never on the CLI's start-up path.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib
import os
import ssl
import threading
from dataclasses import dataclass
from typing import Any

import httpx

from reconciler.provider.errors import HealthError


@dataclass(frozen=True)
class Capabilities:
    models: tuple[tuple[str, int | None], ...]  # (model_name, max_context_length)


async def healthz(gateway_url: str, api_key: str, *, timeout_s: float = 10.0) -> None:
    """GET {gateway}/api/v1/healthz; raises HealthError unless it answers 200."""
    url = f"{gateway_url.rstrip('/')}/api/v1/healthz"
    try:
        async with httpx.AsyncClient(timeout=timeout_s, verify=_tls()) as client:
            response = await client.get(url, headers=_auth(api_key))
    except httpx.HTTPError as exc:
        raise HealthError(f"trainer gateway {gateway_url} is unreachable: {type(exc).__name__}: {exc}") from None
    if response.status_code != 200:
        raise HealthError(f"trainer gateway healthz answered {response.status_code}: {_detail(response)}")


class NotOffered(HealthError):
    """The gateway does not offer this endpoint (404, 405 or 501): a gateway without the JWT exchange."""


NOT_OFFERED = (404, 405, 501)


async def raw_key_capabilities(gateway_url: str, api_key: str, *, timeout_s: float = 10.0) -> Capabilities:
    """GET {gateway}/api/v1/get_server_capabilities with the raw Fireworks key in ``X-API-Key``: the path
    the SDK's own client takes (``FiretitanServiceClient`` with a Fireworks key sends it as a default
    header and never exchanges it for a JWT). Raises ``NotOffered`` when the gateway has no such path."""
    url = f"{gateway_url.rstrip('/')}/api/v1/get_server_capabilities"
    try:
        async with httpx.AsyncClient(timeout=timeout_s, verify=_tls()) as client:
            response = await client.get(url, headers={"X-API-Key": api_key})
    except httpx.HTTPError as exc:
        raise HealthError(f"trainer gateway capabilities failed: {type(exc).__name__}: {exc}") from None
    if response.status_code in NOT_OFFERED:
        raise NotOffered(f"trainer gateway capabilities answered {response.status_code}")
    if response.status_code != 200:
        raise HealthError(f"trainer gateway capabilities (raw API key) answered {response.status_code}: "
                          f"{_detail(response)}")
    try:
        body = response.json()
    except ValueError:
        body = None
    rows = body.get("supported_models") if isinstance(body, dict) else None
    if not isinstance(rows, list):
        raise HealthError("trainer gateway capabilities answered without supported_models")
    models = [(str(m["model_name"]), m.get("max_context_length")) for m in rows
              if isinstance(m, dict) and m.get("model_name")]
    return Capabilities(tuple(models))


async def exchange_token(gateway_url: str, api_key: str, *, timeout_s: float = 10.0) -> str:
    """POST {gateway}/api/v1/auth/token with the Fireworks key -> a JWT the tinker client accepts.
    Raises ``NotOffered`` when the gateway has no JWT exchange."""
    url = f"{gateway_url.rstrip('/')}/api/v1/auth/token"
    try:
        async with httpx.AsyncClient(timeout=timeout_s, verify=_tls()) as client:
            response = await client.post(url, json={}, headers=_auth(api_key))
    except httpx.HTTPError as exc:
        raise HealthError(f"trainer gateway token exchange failed: {type(exc).__name__}: {exc}") from None
    if response.status_code in NOT_OFFERED:
        raise NotOffered(f"trainer gateway token exchange answered {response.status_code}")
    if response.status_code != 200:
        raise HealthError(f"trainer gateway token exchange answered {response.status_code}: {_detail(response)}")
    try:
        jwt = response.json().get("jwt")
    except ValueError:
        jwt = None
    if not isinstance(jwt, str) or not jwt:
        raise HealthError("trainer gateway token exchange answered without a JWT")
    return jwt


def _tinker_capabilities(gateway_url: str, jwt: str, timeout_s: float) -> Capabilities:
    """Runs in a worker thread: the real tinker client, bounded by ``timeout_s``."""
    import tinker

    client = tinker.RestClient(base_url=gateway_url, api_key=jwt)
    result: Any = client.get_server_capabilities().result(timeout=timeout_s)
    models = []
    for item in getattr(result, "supported_models", None) or ():
        name = getattr(item, "model_name", None)
        if name:
            models.append((str(name), getattr(item, "max_context_length", None)))
    return Capabilities(tuple(models))


async def tinker_capabilities(gateway_url: str, jwt: str, *, timeout_s: float) -> Capabilities:
    """The capabilities through the real tinker client, never waiting longer than ``timeout_s``.

    The client's constructor blocks (and retries for minutes on 5xx); it runs in a daemon worker
    thread so a hung client is abandoned at the deadline instead of hanging fwctl.
    """
    os.environ["TINKER_TELEMETRY"] = "0"  # a failing call would otherwise wait for telemetry
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Capabilities] = loop.create_future()

    def settle(value: Capabilities | None, error: BaseException | None) -> None:
        if future.done():  # abandoned at the deadline
            return
        if error is not None:
            future.set_exception(error)
        else:
            assert value is not None
            future.set_result(value)

    def work() -> None:
        value: Capabilities | None = None
        error: BaseException | None = None
        try:
            value = _tinker_capabilities(gateway_url, jwt, timeout_s)
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting coroutine
            error = exc
        # RuntimeError: the loop is gone, fwctl gave up on this probe long ago.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(settle, value, error)

    # The import (native extension modules) runs in a joined worker thread, never in the daemon one:
    # a daemon thread still inside a native import when the interpreter exits aborts it (exit 134).
    await asyncio.to_thread(importlib.import_module, "tinker")
    threading.Thread(target=work, name="fwctl-tinker-probe", daemon=True).start()
    try:
        return await asyncio.wait_for(future, timeout_s)
    except TimeoutError:
        raise HealthError(f"the tinker client got no capabilities from {gateway_url} within {timeout_s:.0f}s") \
            from None
    except HealthError:
        raise
    except Exception as exc:  # tinker's own exceptions: one line
        raise HealthError(f"the tinker client failed against {gateway_url}: {type(exc).__name__}: "
                          f"{_one_line(str(exc))}") from None


@functools.cache
def _tls() -> ssl.SSLContext:
    """One TLS context per process: loading the CA bundle costs ~0.1 s of CPU per client."""
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


def _auth(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}", "X-Api-Key": api_key}


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return _one_line(response.text[:200]) or "no body"
    if isinstance(body, dict):
        for key in ("detail", "message", "error"):
            if body.get(key):
                return _one_line(str(body[key]))
    return _one_line(str(body)[:200])


def _one_line(text: str) -> str:
    return " ".join(text.split())


__all__ = ["Capabilities", "NotOffered", "exchange_token", "healthz", "raw_key_capabilities", "tinker_capabilities"]
