"""The Fireworks platform as fwctl sees it: the only part of fwctl that knows the wire format.

``FireworksProvider`` implements the ``Provider`` protocol over httpx (``in_process`` serves an
ASGI app in this process: the embedded local control plane); ``resolve_endpoint`` decides which
control plane to talk to; ``healthz`` / ``exchange_token`` / ``tinker_capabilities`` speak to a
trainer's gateway; ``LocalAdmin`` drives a local control plane's admin endpoints. Errors are
``reconciler.provider.errors``.
"""

from __future__ import annotations

from reconciler.provider._fireworks import FireworksProvider
from reconciler.provider._gateway import Capabilities, exchange_token, healthz, tinker_capabilities
from reconciler.provider._local_admin import LocalAdmin
from reconciler.provider.base import Provider
from reconciler.provider.endpoint import Endpoint, resolve_endpoint
from reconciler.provider.errors import (
    AuthError,
    Conflict,
    HealthError,
    NotFound,
    ProviderError,
    ValidationError,
)

__all__ = [
    "AuthError",
    "Capabilities",
    "Conflict",
    "Endpoint",
    "FireworksProvider",
    "HealthError",
    "LocalAdmin",
    "NotFound",
    "Provider",
    "ProviderError",
    "ValidationError",
    "exchange_token",
    "healthz",
    "resolve_endpoint",
    "tinker_capabilities",
]


def _conforms(provider: FireworksProvider) -> Provider:
    return provider  # mypy checks that FireworksProvider satisfies the Provider protocol
