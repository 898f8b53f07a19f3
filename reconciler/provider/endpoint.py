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
    source: str = ""  # where the choice came from ("--endpoint", "FWCTL_ENDPOINT", ...); "" for the fallback

    @property
    def embedded(self) -> bool:
        return self.kind == "embedded"

    @property
    def fallback(self) -> bool:
        """The embedded plane, chosen because nothing named an endpoint or a key."""
        return self.embedded and not self.source


def resolve_endpoint(flag: str | None, env: Mapping[str, str], stack_endpoint: str | None) -> Endpoint:
    """Decide the endpoint. Raises ``EndpointError`` (one line, actionable) for an unusable choice."""
    api_key = checked_api_key(env.get("FIREWORKS_API_KEY"))
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
        return Endpoint("remote", _checked_url(base or DEFAULT_BASE_URL, source), api_key, source)
    return _embedded("")


def _explicit(value: str, source: str, api_key: str) -> Endpoint:
    if value == LOCAL:
        return _embedded(source)
    url = _checked_url(value, source)
    if not api_key:
        if _is_loopback(urlsplit(url).hostname or ""):
            # A `fwctl local serve` on this machine: its default key.
            return Endpoint("remote", url, LOCAL_API_KEY, source)
        raise EndpointError(f"endpoint {url} (from {source}) needs an API key: set FIREWORKS_API_KEY")
    return Endpoint("remote", url, api_key, source)


def _embedded(source: str) -> Endpoint:
    # The real Fireworks key is never handed to the in-process control plane: it runs with its
    # default key (``reconciler.local.DEFAULT_API_KEY``).
    return Endpoint("embedded", LOCAL, LOCAL_API_KEY, source)


def checked_api_key(value: str | None, source: str = "FIREWORKS_API_KEY") -> str:
    """The API key, trimmed; refused (without echoing it) when it holds a control or non-ASCII character."""
    key = (value or "").strip()
    if any(not 0x20 <= ord(c) < 0x7F for c in key):
        raise EndpointError(f"{source} contains a control or non-ASCII character (a line break?); the key is "
                            f"not shown: set {source} to the key alone, on one line")
    return key


def _checked_url(url: str, source: str) -> str:
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError when out of range or not a number
    except ValueError as exc:
        raise EndpointError(f"endpoint {url!r} (from {source}) is not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise EndpointError(f"endpoint {url!r} (from {source}) is not an http(s) URL or 'local'")
    if port == 0:
        raise EndpointError(f"endpoint {url!r} (from {source}): port 0 is not a port to connect to")
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
