"""The planner: desired manifests + prior state + a fresh read of the account -> Plan.

Pure: no I/O, no clock that matters, no randomness. Remote ids are chosen client-side and
deterministically (from the state's lineage, the address and the state serial), so a plan applied
twice, or an apply killed and re-run, names the same remote resources instead of duplicating them.

The planner knows no kind: it asks every kind (``reconciler.kinds``), in phase order, to assign
its remote ids, then to plan its present resources, then its removed ones; then it orders the
changes by the dependency graph and marks which edges only need the other resource to exist.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from reconciler import __version__
from reconciler.graph import dependencies, topological_order
from reconciler.kinds import in_phase_order, kind, kind_of
from reconciler.kinds.base import PlanContext
from reconciler.model.errors import FwctlError
from reconciler.model.plan import Action, Change, Plan
from reconciler.model.problems import Problem
from reconciler.model.remote import Observed
from reconciler.model.resources import Resource
from reconciler.model.state import StateDocument


class PlanError(FwctlError):
    """The manifests cannot be planned against this account; one problem per line."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass(frozen=True)
class PlanRequest:
    """Everything the planner looks at."""

    stack: str
    endpoint: str
    observed: Observed
    prior: StateDocument | None = None
    resources: Mapping[str, Resource] = field(default_factory=dict)
    stack_region: str | None = None
    manifests_digest: str = ""
    destroy: bool = False
    targets: tuple[str, ...] = ()
    id_seed: str = ""  # the lineage the state has or will have
    locate: Any = None  # callable(address, field) -> "FILE:LINE:COL", for located errors


def plan_changes(request: PlanRequest) -> Plan:
    """Compute the plan. Raises PlanError with every problem found."""
    resources = {} if request.destroy else dict(request.resources)
    prior = request.prior.resources if request.prior else {}
    ctx = PlanContext(
        stack=request.stack,
        stack_region=request.stack_region,
        id_seed=request.id_seed,
        generation=request.prior.serial if request.prior else 0,
        destroy=request.destroy,
        resources=resources,
        prior=prior,
        observed=request.observed,
        locate=request.locate,
    )
    deps = dependencies(resources)
    order = topological_order(deps)
    # Remote ids first: bindings and deployments refer to trainers' ids and the other way round.
    for address in order:
        res = resources[address]
        kind(res.kind).assign_id(res, ctx)
    for address in in_phase_order(order):  # dependency order within a phase
        res = resources[address]
        kind(res.kind).plan(res, ctx)
    for address in in_phase_order(a for a in prior if a not in resources):
        removed = kind_of(address)
        if prior[address].lifecycle.get("preventDestroy"):
            ctx.error(address, "spec.lifecycle.preventDestroy",
                      "is true, and this plan would destroy it; set preventDestroy: false first")
        elif removed is None:  # a kind this fwctl does not know: drop it from state, touch nothing
            ctx.add(address, prior[address].kind, Action.FORGET, reasons=("not a kind this fwctl knows",))
        else:
            removed.plan_removal(address, prior[address], ctx)
    if ctx.problems:
        raise PlanError(ctx.problems)
    return _assemble(request, ctx, order, deps)


def _assemble(request: PlanRequest, ctx: PlanContext, order: list[str], deps: Mapping[str, set[str]]) -> Plan:
    resources = ctx.resources
    created_only: dict[str, set[str]] = {}
    for res in resources.values():
        for source, target in kind(res.kind).created_only_edges(res, ctx):
            created_only.setdefault(source, set()).add(target)
    ordered: list[Change] = []
    for address in order:
        if address in ctx.changes:
            weak = created_only.get(address, set())
            strong = set(deps.get(address, ())) - weak
            ordered.append(ctx.changes[address].model_copy(update={
                "depends_on": tuple(sorted(strong)), "after_created": tuple(sorted(weak))}))
    ordered.extend(c.model_copy(update={"depends_on": tuple(ctx.prior[a].depends_on)})
                   for a, c in ctx.changes.items() if a not in resources)
    if request.targets:
        wanted = _targeted(request.targets, deps)
        ordered = [c for c in ordered if c.address in wanted]
    prior = request.prior
    return Plan(
        fwctl_version=__version__,
        stack=request.stack,
        endpoint=request.endpoint,
        account=request.observed.account,
        state_lineage=prior.lineage if prior else request.id_seed or None,
        state_serial=prior.serial if prior else 0,
        manifests_digest=request.manifests_digest,
        destroy=request.destroy,
        changes=tuple(ordered),
    )


def _targeted(targets: Sequence[str], deps: Mapping[str, set[str]]) -> set[str]:
    """The targets and everything they depend on (Terraform's -target semantics)."""
    wanted = set(targets)
    stack = list(wanted)
    while stack:
        for dep in deps.get(stack.pop(), ()):
            if dep not in wanted:
                wanted.add(dep)
                stack.append(dep)
    return wanted


__all__ = ["PlanError", "PlanRequest", "plan_changes"]
