"""Errors raised by the provider: httpx errors and HTTP statuses are translated here, once.

    FwctlError (model.errors)
     ├── ProviderError(message, status=None, retryable=False)
     │    ├── NotFound          404: the resource is not in the resolved account
     │    ├── Conflict          409: it already exists / is in a transition
     │    ├── AuthError         401 / 403: the API key was rejected (the key itself is never shown)
     │    ├── ValidationError   400: the platform refused the request; its own message is carried
     │    └── EndpointError     the endpoint chosen cannot be used (also a ValueError)
     └── HealthError           a trainer's gateway does not answer as the manifests declare

``retryable`` tells the caller whether trying again later can help (rate limits, 5xx, connection
failures that outlasted the retry budget); a permanent error (e.g. a tombstoned trainer id) is not.
Messages never contain the API key.
"""

from __future__ import annotations

from reconciler.model.errors import FwctlError


class ProviderError(FwctlError):
    """A call to the Fireworks control plane failed."""

    def __init__(self, message: str, status: int | None = None, retryable: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.retryable = retryable

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, status={self.status!r}, retryable={self.retryable!r})"
        )


class NotFound(ProviderError):
    """HTTP 404."""


class Conflict(ProviderError):
    """HTTP 409."""


class AuthError(ProviderError):
    """HTTP 401 / 403: the key was rejected or lacks permission."""


class ValidationError(ProviderError):
    """HTTP 400: the request was refused as invalid."""


class EndpointError(ProviderError, ValueError):
    """The endpoint chosen (flag, environment or Stack) cannot be used; says what to set instead."""


class HealthError(FwctlError):
    """The trainer is not usable as declared; the message is one line, for a person."""
