"""Retrying a request: what is transient, how long to back off, how many requests to keep in flight.

A 429 is not always transient. The platform answers 429 for three things (cookbook error reference):
a *rate limit* (retry after ``Retry-After``), a *GPU quota* ceiling ("429 on job create: quota — a
ceiling on concurrent GPUs ... retry storms make it worse") and, as ``RESOURCE_EXHAUSTED``, *no
capacity* for the GPU class/region ("distinct from a 429 quota ceiling"). Retrying the last two
cannot help within a request's budget: the change fails at once with the platform's message.
"""

from __future__ import annotations

import asyncio
import email.utils
import time

import httpx

RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
RETRYABLE_EXCEPTIONS: tuple[type[Exception], ...] = (
    httpx.ConnectError,
    httpx.ReadError,
    httpx.RemoteProtocolError,
    httpx.TimeoutException,
)
_QUOTA_WORDS = ("quota",)
_CAPACITY_WORDS = ("no capacity", "unschedulable", "insufficient capacity", "out of capacity")
BACKOFF_BASE_S = 0.2
BACKOFF_CAP_S = 8.0


class AdaptiveLimit:
    """Bounded, adaptive concurrency (AIMD): halve on a rate limit, grow back by one per window."""

    def __init__(self, maximum: int) -> None:
        self.maximum = max(1, maximum)
        self.limit = float(self.maximum)
        self.in_flight = 0
        self._changed = asyncio.Condition()

    async def __aenter__(self) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self.in_flight < int(self.limit))
            self.in_flight += 1

    async def __aexit__(self, *exc_info: object) -> None:
        async with self._changed:
            self.in_flight -= 1
            self._changed.notify_all()

    def throttled(self) -> None:
        self.limit = max(1.0, self.limit / 2)

    def succeeded(self) -> None:
        self.limit = min(float(self.maximum), self.limit + 1 / self.limit)


def exhaustion(status: int, message: str) -> str | None:
    """``quota`` or ``capacity`` when a 429/503 answer is one of those (not retryable), else None."""
    if status not in (429, 503):
        return None
    lowered = message.lower()
    if "rate limit" in lowered:
        return None
    if any(word in lowered for word in _QUOTA_WORDS):
        return "quota"
    if any(word in lowered for word in _CAPACITY_WORDS):
        return "capacity"
    return None


def retryable_response(response: httpx.Response) -> bool:
    """Is this answer worth retrying? 408/429/5xx are, unless the body says quota or capacity."""
    if response.status_code not in RETRYABLE_STATUSES:
        return False
    if response.status_code not in (429, 503):
        return True
    try:
        body = response.json()
    except ValueError:
        return True
    message = str(body.get("message", "")) if isinstance(body, dict) else ""
    return exhaustion(response.status_code, message) is None


def origin(url: str) -> str:
    parsed = httpx.URL(url)
    return f"{parsed.scheme}://{parsed.netloc.decode('ascii', 'replace')}"


def retry_after_s(value: str | None) -> float | None:
    """``Retry-After`` as seconds: a number, or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
