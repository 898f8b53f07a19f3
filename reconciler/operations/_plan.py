"""plan, and refresh-only: read the account, compare, say what apply would do (or what drifted).

``plan --refresh-only`` reports what changed on the platform since the state was written and never
writes; ``apply --refresh-only`` records it (``prepare_refresh`` → ``PreparedRefresh.record``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from reconciler.operations._session import QUIET, Listener, Session, failing_as

if TYPE_CHECKING:
    from reconciler.drift import Drift
    from reconciler.model.plan import Plan, PlanWarning
    from reconciler.model.problems import Problem
    from reconciler.model.remote import Observed
    from reconciler.model.state import StateDocument
    from reconciler.provider.base import Provider


@dataclass(frozen=True)
class PlanOptions:
    destroy: bool = False  # plan the destruction of everything in state
    targets: tuple[str, ...] = ()  # limit to these addresses and their dependencies
    replace: tuple[str, ...] = ()  # replace these although nothing in the manifests forces it
    # Issue 15: refuse a plan over the budget or the account's GPU quota (plan and apply; not status).
    limits: bool = False
    prices_file: str | None = None  # --prices FILE: overrides the packaged table (and spec.prices)
    max_usd_per_hour: float | None = None  # --max-usd-per-hour: overrides spec.budget.maxUsdPerHour


async def read_account(session: Session, provider: Provider, prior: StateDocument | None,
                       listener: Listener = QUIET) -> Observed:
    """A fresh read of what the manifests and the state name, from the account the state belongs to."""
    from reconciler.refresh import refresh

    with failing_as("reading the account"):
        observed = await refresh(provider, session.stack, session.resources, prior)
    session.check_account(prior, observed.account, listener)
    return observed


async def make_plan(session: Session, provider: Provider, prior: StateDocument | None,
                    options: PlanOptions, listener: Listener = QUIET, observed: Observed | None = None) -> Plan:
    """Refresh what the manifests and the state name (unless ``observed`` is that read already, from
    ``read_account``), then plan. Raises ``PlanError``, and ``OperationError`` when the account is
    not the state's."""
    import uuid

    from reconciler.planner import PlanRequest, plan_changes

    manifests = session.manifests
    if observed is None:
        observed = await read_account(session, provider, prior, listener)
    stack_spec = session.stack_spec
    planned = plan_changes(PlanRequest(
        stack=session.stack,
        endpoint=session.endpoint.url,
        observed=observed,
        prior=prior,
        resources=session.resources,
        stack_region=stack_spec.region if stack_spec else None,
        manifests_digest=manifests.digest if manifests else "",
        destroy=options.destroy,
        targets=options.targets,
        replace=options.replace,
        id_seed=prior.lineage if prior else str(uuid.uuid4()),
        locate=manifests.locate if manifests else None,
    ))
    if manifests is not None and manifests.variables:  # recorded: a saved plan refuses other values
        planned = planned.model_copy(update={"variables": dict(manifests.variables)})
    if manifests is not None and manifests.warnings and not options.destroy:
        planned = planned.model_copy(update={"warnings": plan_warnings(manifests.warnings, planned)})
    from reconciler.operations._limits import check_limits, price_table

    return await check_limits(session, provider, planned, observed, price_table(session, options), options)


def plan_warnings(warnings: Iterable[Problem], planned: Plan) -> tuple[PlanWarning, ...]:
    """The manifests' warnings about the resources this plan covers (a --target plan: only those)."""
    from reconciler.model.plan import PlanWarning

    covered = {change.address for change in planned.changes}
    return tuple(PlanWarning(file=w.file, line=w.line, col=w.col, address=w.address, field=w.field,
                             message=w.message) for w in warnings if w.address in covered)


def plan(session: Session, options: PlanOptions = PlanOptions(), *, lock_timeout_s: float = 0.0,
         listener: Listener = QUIET) -> Plan:
    """What apply would do now, and why (the state is locked while the account is read)."""
    with session.locked("plan", lock_timeout_s, listener):
        prior = session.read_state()
        session.check_endpoint(prior, listener)
        listener.connecting(session)
        return session.run(lambda provider: make_plan(session, provider, prior, options, listener))


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
    """What changed on the platform since the state was written."""

    drifts: tuple[Drift, ...]
    has_state: bool = True  # False: there is no state, so nothing to compare with
    recorded: bool = False  # True once ``apply --refresh-only`` wrote them into the state
    moved: bool = False  # the state is bound elsewhere and is moved (``allow_endpoint_change``)

    @property
    def has_changes(self) -> bool:
        """Something to record: drift, or a move of the stack."""
        return bool(self.drifts) or self.moved


class PreparedRefresh:
    """A refresh read under the state lock, to report (plan) or record (apply) while the lock is held."""

    def __init__(self, session: Session, found: Refreshed, refreshed: StateDocument | None) -> None:
        self.session = session
        self.found = found
        self._refreshed = refreshed

    def record(self) -> Refreshed:
        """Write the refreshed values into the state (nothing on the platform changes)."""
        if self._refreshed is None or not self.found.has_changes:
            return self.found
        self.session.backend.write(self._refreshed.next_version())
        return Refreshed(self.found.drifts, self.found.has_state, recorded=True, moved=self.found.moved)


@contextlib.contextmanager
def prepare_refresh(session: Session, operation: str = "plan --refresh-only", *, lock_timeout_s: float = 0.0,
                    listener: Listener = QUIET) -> Iterator[PreparedRefresh]:
    """Lock the state, read the account and compare it with what the state records."""
    from reconciler.drift import detect_drift

    with session.locked(operation, lock_timeout_s, listener):
        prior = session.read_state()
        session.check_endpoint(prior, listener)
        if prior is None:
            yield PreparedRefresh(session, Refreshed((), has_state=False), None)
            return
        listener.connecting(session)
        observed = session.run(lambda provider: read_account(session, provider, prior, listener))
        drifts, refreshed = detect_drift(prior, observed)
        moved = session.moves(prior, observed.account)
        yield PreparedRefresh(session, Refreshed(tuple(drifts), moved=moved),
                              session.bound(refreshed, observed.account))


def refresh_only(session: Session, *, lock_timeout_s: float = 0.0, listener: Listener = QUIET) -> Refreshed:
    """What changed on the platform since the state was written; the state is not written."""
    with prepare_refresh(session, lock_timeout_s=lock_timeout_s, listener=listener) as prepared:
        return prepared.found


__all__ = ["PlanOptions", "PreparedRefresh", "Refreshed", "make_plan", "plan", "prepare_refresh", "read_account",
           "read_saved_plan", "refresh_only", "save_plan"]
