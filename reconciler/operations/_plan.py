"""plan, and plan --refresh-only: read the account, compare, say what apply would do (or record drift)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from reconciler.operations._session import QUIET, Listener, Session, failing_as

if TYPE_CHECKING:
    from reconciler.drift import Drift
    from reconciler.model.plan import Plan
    from reconciler.model.state import StateDocument
    from reconciler.provider.base import Provider


@dataclass(frozen=True)
class PlanOptions:
    destroy: bool = False  # plan the destruction of everything in state
    targets: tuple[str, ...] = ()  # limit to these addresses and their dependencies


async def make_plan(session: Session, provider: Provider, prior: StateDocument | None,
                    options: PlanOptions) -> Plan:
    """Refresh what the manifests and the state name, then plan. Raises ``PlanError``."""
    import uuid

    from reconciler.planner import PlanRequest, plan_changes
    from reconciler.refresh import refresh

    manifests = session.manifests
    with failing_as("reading the account"):
        observed = await refresh(provider, session.stack, session.resources, prior)
    stack_spec = session.stack_spec
    return plan_changes(PlanRequest(
        stack=session.stack,
        endpoint=session.endpoint.url,
        observed=observed,
        prior=prior,
        resources=session.resources,
        stack_region=stack_spec.region if stack_spec else None,
        manifests_digest=manifests.digest if manifests else "",
        destroy=options.destroy,
        targets=options.targets,
        id_seed=prior.lineage if prior else str(uuid.uuid4()),
        locate=manifests.locate if manifests else None,
    ))


def plan(session: Session, options: PlanOptions = PlanOptions(), *, lock_timeout_s: float = 0.0,
         listener: Listener = QUIET) -> Plan:
    """What apply would do now, and why (the state is locked while the account is read)."""
    listener.connecting(session)
    with session.locked("plan", lock_timeout_s, listener):
        prior = session.read_state()
        return session.run(lambda provider: make_plan(session, provider, prior, options))


def save_plan(path: str, the_plan: Plan, session: Session) -> None:
    """Save ``the_plan`` with the manifests it was made from, for ``fwctl apply FILE``."""
    from reconciler.planfile import write_plan_file

    assert session.manifests is not None
    write_plan_file(path, the_plan, session.manifests.sources)


def read_saved_plan(path: str) -> Plan:
    """The plan saved in ``path`` by ``save_plan``; raises ``PlanFileError``."""
    from reconciler.planfile import read_plan_file

    return read_plan_file(path).plan


@dataclass(frozen=True)
class Refreshed:
    """What changed on the platform since the state was written (now recorded in the state)."""

    drifts: tuple[Drift, ...]


def refresh_only(session: Session, *, lock_timeout_s: float = 0.0, listener: Listener = QUIET) -> Refreshed:
    """Bring the state in line with the platform without proposing changes."""
    from reconciler.drift import detect_drift
    from reconciler.refresh import refresh

    listener.connecting(session)
    with session.locked("refresh", lock_timeout_s, listener):
        prior = session.read_state()
        if prior is None:
            return Refreshed(())
        with failing_as("reading the account"):
            observed = session.run(lambda provider: refresh(provider, session.stack, session.resources, prior))
        drifts, refreshed = detect_drift(prior, observed)
        if drifts:
            session.backend.write(refreshed.next_version())
    return Refreshed(tuple(drifts))


__all__ = ["PlanOptions", "Refreshed", "make_plan", "plan", "read_saved_plan", "refresh_only", "save_plan"]
