"""status: the live health and sync of every resource of the stack, and why."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from reconciler.operations._session import QUIET, Listener, Session

if TYPE_CHECKING:
    from reconciler.model.health import ResourceHealth
    from reconciler.model.plan import ChangeCost, PlanCost


@dataclass(frozen=True)
class StatusReport:
    stack: str
    resources: tuple[ResourceHealth, ...]
    #: What each resource holds and costs now (issue 15: the plan's ``before`` side), and the total.
    costs: Mapping[str, ChangeCost] = field(default_factory=dict)
    cost: PlanCost | None = None

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


def status(session: Session, *, probe_timeout_s: float = 30.0, listener: Listener = QUIET,
           prices_file: str | None = None) -> StatusReport:
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
    priced: list[Any] = []

    async def run(provider: Any) -> list[ResourceHealth]:
        observed = await read_account(session, provider, prior, listener)  # one read for health and sync
        targets = sorted(probe_targets(session.stack, resources, prior, observed).items())
        probe = TrainerProbe(provider, session.endpoint.api_key, healthz_only=session.endpoint.embedded,
                             timeout_s=probe_timeout_s)
        found = await asyncio.gather(*(probe.reason(job_id, model) for job_id, model in targets))
        probes = {job_id: why for (job_id, _), why in zip(targets, found, strict=True)}
        results = probe.named(classify(session.stack, resources, prior, observed, probes))
        try:
            plan = await make_plan(session, provider, prior, PlanOptions(prices_file=prices_file), observed=observed)
        except PlanError as exc:
            return with_sync(results, None, str(exc).splitlines()[0])
        priced.append(plan)
        return with_sync(results, plan)

    found = tuple(session.run(run))
    plan = priced[0] if priced else None
    costs = {c.address: c.cost for c in plan.changes if c.cost is not None} if plan is not None else {}
    return StatusReport(session.stack, found, costs, plan.cost if plan is not None else None)


__all__ = ["StatusReport", "status"]
