"""The Fireworks REST provider: the only part of fwctl that knows the wire format.

``FireworksProvider`` implements the ``Provider`` protocol over httpx; ``resolve_endpoint`` decides
which control plane to talk to. Errors are ``reconciler.provider.errors``.
"""

from __future__ import annotations

from reconciler.provider._fireworks import FireworksProvider
from reconciler.provider.base import Provider
from reconciler.provider.endpoint import Endpoint, resolve_endpoint
from reconciler.provider.errors import AuthError, Conflict, NotFound, ProviderError, ValidationError

__all__ = [
    "AuthError",
    "Conflict",
    "Endpoint",
    "FireworksProvider",
    "NotFound",
    "Provider",
    "ProviderError",
    "ValidationError",
    "resolve_endpoint",
]


def _conforms(provider: FireworksProvider) -> Provider:
    return provider  # mypy checks that FireworksProvider satisfies the Provider protocol
