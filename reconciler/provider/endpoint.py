"""Which control plane fwctl talks to, and with which key.

Precedence: ``--endpoint URL|local`` > ``FWCTL_ENDPOINT`` > the Stack's ``spec.endpoint`` >
``FIREWORKS_BASE_URL`` (default ``https://api.fireworks.ai``) when ``FIREWORKS_API_KEY`` is set >
the embedded local control plane. This module only decides; ``reconciler.operations`` builds the
provider (``FireworksProvider.in_process`` for the embedded one).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

from reconciler.provider.errors import EndpointError

DEFAULT_BASE_URL = "https://api.fireworks.ai"
LOCAL_API_KEY = "fwctl-local-key"  # the local control plane's default key
LOCAL = "local"


@dataclass(frozen=True)
class Endpoint:
    kind: Literal["remote", "embedded"]
    url: str  # "local" when embedded
    api_key: str = field(repr=False)

    @property
    def embedded(self) -> bool:
        return self.kind == "embedded"


def resolve_endpoint(flag: str | None, env: Mapping[str, str], stack_endpoint: str | None) -> Endpoint:
    """Decide the endpoint. Raises ``EndpointError`` (one line, actionable) for an unusable choice."""
    api_key = (env.get("FIREWORKS_API_KEY") or "").strip()
    for source, value in (
        ("--endpoint", flag),
        ("FWCTL_ENDPOINT", env.get("FWCTL_ENDPOINT")),
        ("the Stack's spec.endpoint", stack_endpoint),
    ):
        if value and value.strip():
            return _explicit(value.strip(), source, api_key)
    if api_key:
        base = (env.get("FIREWORKS_BASE_URL") or "").strip()
        source = "FIREWORKS_BASE_URL" if base else "FIREWORKS_API_KEY"
        return Endpoint("remote", _checked_url(base or DEFAULT_BASE_URL, source), api_key)
    return _embedded()


def _explicit(value: str, source: str, api_key: str) -> Endpoint:
    if value == LOCAL:
        return _embedded()
    url = _checked_url(value, source)
    if not api_key:
        if _is_loopback(urlsplit(url).hostname or ""):
            # A `fwctl local serve` on this machine: its default key.
            return Endpoint("remote", url, LOCAL_API_KEY)
        raise EndpointError(f"endpoint {url} (from {source}) needs an API key: set FIREWORKS_API_KEY")
    return Endpoint("remote", url, api_key)


def _embedded() -> Endpoint:
    # The real Fireworks key is never handed to the in-process control plane: it runs with its
    # default key (``reconciler.local.DEFAULT_API_KEY``).
    return Endpoint("embedded", LOCAL, LOCAL_API_KEY)


def _checked_url(url: str, source: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise EndpointError(f"endpoint {url!r} (from {source}) is not an http(s) URL or 'local'")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise EndpointError(
            f"endpoint {url} (from {source}) uses plain http:// to a non-loopback host: the API key would "
            "travel unencrypted; use https://"
        )
    return url.rstrip("/")


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
