"""When a deployment is ready: ``READY``, or ``CREATING`` and already answering inference.

Hot-load deployments may stay ``CREATING`` while they already serve (the SDK's ``wait_for_ready``:
their background reconciliation is skipped). As the SDK does, fwctl then sends one token-in completion
(``Provider.probe_inference``) on each poll; an HTTP 200 makes the deployment ready. A probe that keeps
failing ends the wait with the last reason the platform gave, so a timeout says what to look at. A
``min: 0`` deployment scaled to zero while idle is ``READY`` with no replica: ready (it is not drift);
the probe wakes it where serving replicas are needed (``wake``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reconciler.kinds.base import ApplyContext, ChangeFailed
from reconciler.model.remote import DEPLOYMENT_CREATING, DeploymentInfo

if TYPE_CHECKING:
    from reconciler.provider.base import Provider


def idle_at_zero(dep: DeploymentInfo) -> bool:
    """A ``min: 0`` deployment the platform scaled to zero while idle (it wakes on the next request)."""
    return dep.ready and dep.config.min_replicas == 0 and dep.config.max_replicas > 0 and dep.replica_count == 0


def serves_while_creating(dep: DeploymentInfo) -> bool:
    """``CREATING`` with ready replicas: a hot-load deployment the platform leaves CREATING (health reads
    this from the deployment alone; applying waits for the probe)."""
    return dep.state == DEPLOYMENT_CREATING and dep.replica_count > 0 and dep.config.hot_load_enabled


async def serving(provider: Provider, dep: DeploymentInfo) -> tuple[bool, str | None]:
    """(ready?, why not: the probe's failure) for ``dep`` as just read."""
    if dep.ready:
        return True, None
    if dep.state != DEPLOYMENT_CREATING:
        return False, None
    failure = await provider.probe_inference(dep.deployment_id)
    return failure is None, failure


async def wait_ready(ctx: ApplyContext, dep_id: str, attached_to: str | None = None) -> DeploymentInfo:
    """Ready (and, when ``attached_to`` is given, showing that trainer attachment)."""
    latest: dict[str, DeploymentInfo] = {}
    last = {"state": "", "probe": ""}

    async def check() -> bool:
        dep = await ctx.provider.get_deployment(dep_id)
        if dep is None:
            raise ChangeFailed(f"deployment {dep_id} disappeared")
        if dep.bad:
            why = f": {dep.status_message}" if dep.status_message else ""
            raise ChangeFailed(f"deployment {dep_id} is {dep.state}{why}")
        if dep.state != last["state"]:
            last["state"] = dep.state
            ctx.event(dep.state)
        latest["dep"] = dep
        ready, failure = await serving(ctx.provider, dep)
        last["probe"] = failure or ""
        if ready and not dep.ready and last["state"] != "serving":
            last["state"] = "serving"
            ctx.event("CREATING", "serving requests (the inference probe answered): treated as ready")
        if not ready:
            return False
        return attached_to is None or dep.config.hot_load_trainer_job == attached_to

    try:
        await ctx.poll.until(check, timeout=ctx.timeout(), what=f"deployment {dep_id} to be READY")
    except ChangeFailed as err:
        if last["probe"]:
            raise ChangeFailed(f"{err}: it stayed CREATING and its inference probe (POST /inference/v1/completions) "
                               f"failed: {last['probe']}") from None
        raise
    return latest["dep"]


async def wake(ctx: ApplyContext, dep_id: str) -> None:
    """Send one request to a deployment scaled to zero while idle: it starts scaling up (answering 503
    ``DEPLOYMENT_SCALING_UP`` meanwhile)."""
    failure = await ctx.provider.probe_inference(dep_id)
    ctx.event("waking", f"scaled to zero while idle (min 0); {failure or 'it answered'}")


__all__ = ["idle_at_zero", "serves_while_creating", "serving", "wait_ready", "wake"]
