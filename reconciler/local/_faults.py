"""Standing faults (error bursts, latency, capacity) and per-process request statistics.

Standing faults live in memory: a restart clears them. One-shot faults (preempt a trainer, fail a
deployment) change stored resources and are handled by the control plane.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class ErrorBurst:
    rate: float
    statuses: tuple[int, ...]
    remaining: int | None  # None = until cleared


@dataclass
class DeleteError:
    """DELETE of one resource answers ``status`` (``remaining`` times; None = until cleared)."""

    status: int
    remaining: int | None


@dataclass
class Faults:
    errors: ErrorBurst | None = None
    latency_ms: float = 0.0
    latency_methods: tuple[str, ...] = ()  # the HTTP methods the latency applies to; () = every request
    capacity_pending_s: float = 0.0  # emulated seconds, divided by speed like every duration
    capacity_reject: bool = False  # creates and scale-ups that need GPUs fail: RESOURCE_EXHAUSTED, no capacity
    hotload_errors: dict[tuple[str, str], str] = field(default_factory=dict)  # (account, deployment) -> message
    # (account, collection, id) -> the failure of its DELETE; collection: rlorTrainerJobs | deployments
    delete_errors: dict[tuple[str, str, str], DeleteError] = field(default_factory=dict)
    # switches (``_trainer_states``, PUT /_local/v1/switches): how the trainer gateway authenticates
    # ("jwt" | "api-key" | "healthz-only") and whether LoRA hot loads show only in ``loaded_adapters``
    trainer_gateway: str = "jwt"
    adapters_only: bool = False
    rng: random.Random = field(default_factory=random.Random)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def pick_error(self) -> int | None:
        """The status of an injected error for this request, or None."""
        burst = self.errors
        if burst is None:
            return None
        with self._lock:
            if burst.remaining is not None and burst.remaining <= 0:
                self.errors = None
                return None
            if self.rng.random() >= burst.rate:
                return None
            if burst.remaining is not None:
                burst.remaining -= 1
            return self.rng.choice(burst.statuses)

    def take_hotload_error(self, account: str, deployment: str) -> str | None:
        """The armed failure of the next hot load into this deployment (one shot), or None."""
        with self._lock:
            return self.hotload_errors.pop((account, deployment), None)

    def take_delete_error(self, account: str, collection: str, resource: str) -> int | None:
        """The status a DELETE of this resource fails with (the request changes nothing), or None."""
        key = (account, collection, resource)
        with self._lock:
            armed = self.delete_errors.get(key)
            if armed is None:
                return None
            if armed.remaining is not None:
                armed.remaining -= 1
                if armed.remaining <= 0:
                    del self.delete_errors[key]
            return armed.status

    def delay_s(self, method: str) -> float:
        """The standing latency of a request with this HTTP method, in seconds."""
        if not self.latency_ms or (self.latency_methods and method not in self.latency_methods):
            return 0.0
        return self.latency_ms / 1000.0

    def clear(self) -> None:
        self.errors = None
        self.latency_ms = 0.0
        self.latency_methods = ()
        self.capacity_pending_s = 0.0
        self.capacity_reject = False
        self.hotload_errors.clear()
        self.delete_errors.clear()
        self.trainer_gateway = "jwt"
        self.adapters_only = False

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.errors is not None:
            out["errors"] = {
                "rate": self.errors.rate,
                "statuses": list(self.errors.statuses),
                "remaining": self.errors.remaining,
            }
        if self.latency_ms:
            out["latency"] = {"ms": self.latency_ms, **({"methods": list(self.latency_methods)}
                                                     if self.latency_methods else {})}
        if self.capacity_pending_s or self.capacity_reject:
            out["capacity"] = {"pendingSeconds": self.capacity_pending_s, "reject": self.capacity_reject}
        if self.hotload_errors:
            out["hotloadErrors"] = [
                {"account": a, "deployment": d, "message": m} for (a, d), m in sorted(self.hotload_errors.items())
            ]
        if self.delete_errors:
            out["deleteErrors"] = [
                {"account": a, {"rlorTrainerJobs": "trainer"}.get(c, "deployment"): r, "status": e.status,
                 "remaining": e.remaining}
                for (a, c, r), e in sorted(self.delete_errors.items())
            ]
        if self.trainer_gateway != "jwt" or self.adapters_only:
            out["switches"] = {"trainerGateway": self.trainer_gateway,
                               "adapterStatus": "loaded-adapters" if self.adapters_only else "both"}
        return out


@dataclass
class Stats:
    started: float = field(default_factory=time.time)
    by_status: Counter[int] = field(default_factory=Counter)
    injected: Counter[int] = field(default_factory=Counter)
    rate_limited: int = 0
    db_locked: int = 0

    def describe(self) -> dict[str, Any]:
        total = sum(self.by_status.values())
        return {
            "uptimeSeconds": round(time.time() - self.started, 3),
            "requests": total,
            "byStatus": {str(k): v for k, v in sorted(self.by_status.items())},
            "server5xx": sum(v for k, v in self.by_status.items() if k >= 500)
            - sum(v for k, v in self.injected.items() if k >= 500),
            "injectedErrors": {str(k): v for k, v in sorted(self.injected.items())},
            "rateLimited": self.rate_limited,
            "databaseLocked": self.db_locked,
        }


class RateLimiter:
    """A token bucket: ``rate`` requests per second, bursts up to one second's worth."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.tokens = rate
        self.stamp = time.monotonic()
        self._lock = threading.Lock()

    def allow(self) -> bool:
        with self._lock:
            now = time.monotonic()
            self.tokens = min(self.rate, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            if self.tokens >= 1.0:
                self.tokens -= 1.0
                return True
            return False
