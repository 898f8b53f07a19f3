"""status: the live health and sync of every resource of the stack, and why."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from reconciler.operations._session import QUIET, Listener, Session

if TYPE_CHECKING:
    from reconciler.model.health import ResourceHealth


@dataclass(frozen=True)
class StatusReport:
    stack: str
    resources: tuple[ResourceHealth, ...]

    @property
    def healthy(self) -> bool:
        """Nothing Degraded or Missing."""
        from reconciler.status import failing

        return not failing(list(self.resources))

    @property
    def synced(self) -> bool:
        """Apply would change nothing (every resource Synced)."""
        from reconciler.status import out_of_sync

        return not out_of_sync(list(self.resources))


def status(session: Session, *, probe_timeout_s: float = 30.0, listener: Listener = QUIET) -> StatusReport:
    """Read the account, probe the RUNNING trainers (within ``probe_timeout_s`` each), classify; then
    plan (as ``fwctl plan`` would, without the lock) for the sync column."""
    import asyncio

    from reconciler.health import TrainerProbe
    from reconciler.operations._plan import PlanOptions, make_plan, read_account
    from reconciler.planner import PlanError
    from reconciler.status import classify, probe_targets, with_sync

    prior = session.read_state()
    session.check_endpoint(prior, listener)  # a state written against another endpoint is refused
    listener.connecting(session)
    resources = session.resources

    async def run(provider: Any) -> list[ResourceHealth]:
        observed = await read_account(session, provider, prior, listener)  # one read for health and sync
        targets = sorted(probe_targets(session.stack, resources, prior, observed).items())
        probe = TrainerProbe(provider, session.endpoint.api_key, healthz_only=session.endpoint.embedded,
                             timeout_s=probe_timeout_s)
        found = await asyncio.gather(*(probe.reason(job_id, model) for job_id, model in targets))
        probes = {job_id: why for (job_id, _), why in zip(targets, found, strict=True)}
        results = classify(session.stack, resources, prior, observed, probes)
        try:
            plan = await make_plan(session, provider, prior, PlanOptions(), observed=observed)
        except PlanError as exc:
            return with_sync(results, None, str(exc).splitlines()[0])
        return with_sync(results, plan)

    return StatusReport(session.stack, tuple(session.run(run)))


__all__ = ["StatusReport", "status"]
