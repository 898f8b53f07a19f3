"""The local control plane's admin endpoints (``/_local/v1/...``): snapshots and injected faults.

Only ``fwctl local snapshot`` / ``fwctl local fault`` use it; the platform has no such endpoints.
Failures are ``ProviderError`` with the server's own message, one line.
"""

from __future__ import annotations

from typing import Any

import httpx

from reconciler.provider.endpoint import LOCAL_API_KEY
from reconciler.provider.errors import ProviderError


class LocalAdmin:
    """A blocking client of one local control plane (``fwctl local serve``)."""

    def __init__(self, endpoint: str, api_key: str | None = None, *, timeout_s: float = 30.0) -> None:
        self.endpoint = endpoint.rstrip("/")
        self._headers = {"X-Api-Key": api_key or LOCAL_API_KEY}
        self._timeout_s = timeout_s

    def request(self, method: str, path: str, body: object = None) -> Any:
        """One admin call; the decoded JSON answer."""
        try:
            with httpx.Client(base_url=self.endpoint, headers=self._headers, timeout=self._timeout_s) as client:
                resp = client.request(method, path, json=body)
        except httpx.HTTPError as err:
            raise ProviderError(f"cannot reach the local control plane at {self.endpoint}: {err}") from None
        try:
            data = resp.json()
        except ValueError:
            data = {"message": resp.text[:200]}
        if resp.status_code >= 400:
            message = data.get("message", data) if isinstance(data, dict) else data
            raise ProviderError(f"{method} {path}: HTTP {resp.status_code}: {message}", status=resp.status_code)
        return data

    def account(self) -> str:
        """The account the key resolves to."""
        accounts = self.request("GET", "/v1/accounts?pageSize=2")
        return str(accounts["accounts"][0]["name"]).split("/", 1)[1]

    def save_snapshot(self, account: str, job: str, name: str) -> Any:
        return self.request("POST", f"/_local/v1/accounts/{account}/rlorTrainerJobs/{job}/snapshots", {"name": name})

    def inject_fault(self, fault: dict[str, object]) -> Any:
        return self.request("POST", "/_local/v1/faults", fault)

    def clear_faults(self) -> Any:
        return self.request("DELETE", "/_local/v1/faults")


__all__ = ["LocalAdmin"]
