"""Trainer health: the probe policy, the same after an apply and in ``fwctl status``.

A RUNNING trainer job is checked the way a training loop will use it: healthz on its gateway, the
JWT exchange with the Fireworks key, then the real tinker client's capabilities, compared with
what the manifests declare, all within one budget. A gateway without the JWT exchange is asked with
the raw key, as the SDK's own client does; one that offers neither, healthz alone. Which probe ran is
named in ``fwctl status`` and in the apply's progress. The embedded local control plane runs in this
process, where the tinker client (real HTTP) cannot reach it: there, healthz only.

The gateway calls themselves are the provider's (``reconciler.provider._gateway``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from reconciler.model.health import Health, ResourceHealth
from reconciler.provider.errors import HealthError

if TYPE_CHECKING:
    from reconciler.model.remote import TrainerConfig
    from reconciler.provider._gateway import Capabilities
    from reconciler.provider.base import Provider

log = logging.getLogger("fwctl.health")

HEALTHZ_DOWN = "the gateway healthz does not answer"


def check_capabilities(caps: Capabilities, *, base_model: str, max_context_length: int | None) -> None:
    """The declared base model must be supported, with at least the declared context length."""
    offered = dict(caps.models)
    if base_model not in offered:
        listed = ", ".join(name for name, _ in caps.models) or "no model"
        raise HealthError(f"the trainer serves {listed}, not the declared base model {base_model}")
    context = offered[base_model]
    if max_context_length is not None and context is not None and int(context) < max_context_length:
        raise HealthError(f"the trainer's max context length for {base_model} is {context}, "
                          f"less than the declared maxContextLength {max_context_length}")


PROBE_JWT = "tinker client via the JWT exchange"
PROBE_RAW_KEY = "capabilities with the raw API key (the gateway offers no JWT exchange)"
PROBE_HEALTHZ = ("healthz only: the gateway offers neither the JWT exchange nor capabilities, so the served "
                 "model is not checked")
PROBE_EMBEDDED = "healthz only (embedded control plane)"


async def probe_trainer(
    gateway_url: str,
    api_key: str,
    *,
    base_model: str,
    max_context_length: int | None,
    timeout_s: float = 30,
) -> str:
    """Healthz, then the capabilities (through the JWT exchange and the tinker client; without the
    exchange, with the raw key as the SDK's own client; neither offered: healthz alone), compared with
    the declaration. Returns which probe ran (``PROBE_*``); raises HealthError (one line)."""
    from reconciler.provider._gateway import (
        NotOffered,
        exchange_token,
        healthz,
        raw_key_capabilities,
        tinker_capabilities,
    )

    deadline = time.monotonic() + timeout_s

    def left() -> float:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise HealthError(f"the trainer health probe of {gateway_url} timed out after {timeout_s:.0f}s")
        return remaining

    await healthz(gateway_url, api_key, timeout_s=min(10.0, left()))
    try:
        jwt = await exchange_token(gateway_url, api_key, timeout_s=min(10.0, left()))
    except NotOffered:
        try:
            caps = await raw_key_capabilities(gateway_url, api_key, timeout_s=min(10.0, left()))
        except NotOffered:
            log.debug("trainer gateway %s: %s", gateway_url, PROBE_HEALTHZ)
            return PROBE_HEALTHZ
        probe = PROBE_RAW_KEY
    else:
        caps = await tinker_capabilities(gateway_url, jwt, timeout_s=left())
        probe = PROBE_JWT
    check_capabilities(caps, base_model=base_model, max_context_length=max_context_length)
    return probe


@dataclass(frozen=True)
class TrainerProbe:
    """The probe policy for one control plane: ``reason()`` is None when a trainer is healthy."""

    provider: Provider
    api_key: str = field(repr=False)
    healthz_only: bool  # the embedded control plane
    timeout_s: float = 30.0
    ran: dict[str, str] = field(default_factory=dict, compare=False)  # job id -> the probe that ran (PROBE_*)

    async def reason(self, job_id: str, base_model: str, max_context_length: int | None = None) -> str | None:
        """Why trainer job ``job_id`` is not usable as declared (one line), or None when it is."""
        if self.healthz_only:
            self.ran[job_id] = PROBE_EMBEDDED
            return None if await self.provider.trainer_healthy(job_id) else HEALTHZ_DOWN
        try:
            self.ran[job_id] = await probe_trainer(await self.provider.trainer_gateway_url(job_id), self.api_key,
                                                   base_model=base_model, max_context_length=max_context_length,
                                                   timeout_s=self.timeout_s)
        except HealthError as exc:
            return str(exc)
        return None

    def named(self, results: Iterable[ResourceHealth]) -> list[ResourceHealth]:
        """``results`` with the probe that ran named in each healthy trainer's reason."""
        return [replace(r, reason=f"{r.reason} (probe: {self.ran[r.remote_id]})")
                if r.remote_id in self.ran and r.health is Health.HEALTHY else r for r in results]

    def after_apply(self) -> Callable[[str, TrainerConfig], Awaitable[str | None]]:
        """The executor's check of each trainer it brought up: the probe that ran; raises ``ChangeFailed``."""
        from reconciler.kinds.base import ChangeFailed

        # No background `import tinker` here: the probe imports it when a trainer is first up. A
        # pre-import thread made every apply that probes no trainer wait for it at exit (seconds on a
        # busy machine) and could still be inside native import code while the interpreter shut down.

        async def probe(job_id: str, config: TrainerConfig) -> str | None:
            why = await self.reason(job_id, config.base_model, config.max_context_length)
            if self.healthz_only:
                log.debug("trainer %s: embedded control plane, tinker capabilities probe skipped (healthz only)",
                          job_id)
                if why is not None:
                    raise ChangeFailed(f"trainer job {job_id}: {why}")
                return None
            if why is not None:
                raise ChangeFailed(f"trainer job {job_id} failed its health check: {why}")
            log.debug("trainer %s: %s: capabilities list %s", job_id, self.ran.get(job_id), config.base_model)
            return self.ran.get(job_id)

        return probe


__all__ = ["HEALTHZ_DOWN", "PROBE_HEALTHZ", "PROBE_JWT", "PROBE_RAW_KEY", "HealthError", "TrainerProbe",
           "check_capabilities", "probe_trainer"]
