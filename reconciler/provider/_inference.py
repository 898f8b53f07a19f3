"""The inference probe: is a deployment answering completions? (the SDK's ``DeploymentManager._probe_inference``).

Hot-load deployments may stay ``CREATING`` while they already serve (the SDK's ``wait_for_ready``: its
"background reconciliation is intentionally skipped"). The SDK then calls them ready when one token-in
request answers HTTP 200: ``POST {inference}/inference/v1/completions`` with ``model:
accounts/{a}/deployments/{id}``, ``prompt: [1, 2]``, ``max_tokens: 4``, ``temperature: 0``, a bearer key.
Sent once, without the provider's retries: a 503 (e.g. ``DEPLOYMENT_SCALING_UP`` while a ``min: 0``
deployment wakes) is an answer, "not serving yet", not a transient failure to ride out.
"""

from __future__ import annotations

from typing import Any

import httpx

from reconciler.provider import _wire

PROBE_TIMEOUT_S = 10.0
PROBE = {"prompt": [1, 2], "max_tokens": 4, "temperature": 0.0}


def probe_failure(response: httpx.Response) -> str | None:
    """None for a served completion, else why not, in one line (the platform's code and message)."""
    if response.status_code == 200:
        return None
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        code = str(error.get("code") or "")
        message = str(error.get("message") or "")
        detail = f"{code}: {message}" if code and message else code or message
    else:
        detail = _wire.parse_api_error(body, response.text)
    return f"HTTP {response.status_code}" + (f" {detail}" if detail else "")


class InferenceProbe:
    """The provider's inference probe (a mixin of ``FireworksProvider``)."""

    async def probe_inference(self, dep_id: str) -> str | None:
        """None when deployment ``dep_id`` answers a completion, else the reason it did not."""
        model = f"accounts/{await self.account_id()}/deployments/{dep_id}"  # type: ignore[attr-defined]
        url = f"{self.base_url}/inference/v1/completions"  # type: ignore[attr-defined]
        try:
            response = await self._request("POST", url, json={"model": model, **PROBE}, bearer=True,  # type: ignore[attr-defined]
                                           timeout=PROBE_TIMEOUT_S, retry=False)
        except Exception as exc:  # ProviderError: no answer at all is a failed probe, said as such
            return str(exc)
        return probe_failure(response)


__all__ = ["InferenceProbe", "probe_failure"]
