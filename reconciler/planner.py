"""The planner: desired manifests + prior state + a fresh read of the account -> Plan.

Pure: no I/O, no clock that matters, no randomness. Remote ids are chosen client-side and
deterministically (from the state's lineage, the address and the state serial; from the stack and
the address while there is no state), so a plan applied
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
from reconciler.graph import dependencies, dependents, topological_order
from reconciler.kinds import in_phase_order, kind, kind_of
from reconciler.kinds.base import PlanContext, deposed_from, lifecycle_diffs
from reconciler.model.errors import FwctlError
from reconciler.model.plan import Action, Change, Plan
from reconciler.model.problems import Problem
from reconciler.model.remote import Observed
from reconciler.model.resources import Resource
from reconciler.model.state import ResourceState, StateDocument


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
    replace: tuple[str, ...] = ()  # --replace: replace these although nothing forces it
    id_seed: str = ""  # the lineage a state created by this plan will have (ids do not depend on it)
    locate: Any = None  # callable(address, field) -> "FILE:LINE:COL", for located errors


def plan_changes(request: PlanRequest) -> Plan:
    """Compute the plan. Raises PlanError with every problem found."""
    declared = dict(request.resources)
    resources = {} if request.destroy else declared
    prior = request.prior.resources if request.prior else {}
    _check_addresses(request, declared, prior)
    deps = dependencies(resources)
    order = topological_order(deps)
    targeted = _targeted(request, declared, prior) if request.targets else None
    ctx = PlanContext(
        stack=request.stack,
        stack_region=request.stack_region,
        # Ids come from the state's lineage; before there is a state, from the stack alone, so a plan
        # and the apply after it (each with its own new lineage) name the same jobs.
        id_seed=request.prior.lineage if request.prior else "",
        generation=request.prior.serial if request.prior else 0,
        destroy=request.destroy,
        resources=resources,
        prior=prior,
        observed=request.observed,
        locate=request.locate,
        manifests=declared,
        replace=frozenset(request.replace),
        targeted=targeted,
    )
    # Remote ids first: bindings and deployments refer to trainers' ids and the other way round.
    for address in order:
        res = resources[address]
        kind(res.kind).assign_id(res, ctx)
    for address in in_phase_order(order):  # dependency order within a phase
        if not ctx.in_plan(address):
            continue
        res = resources[address]
        kind(res.kind).plan(res, ctx)
        kind(res.kind).check_catalog(res, ctx)
    removed = [a for a in prior if a not in resources and a not in ctx.changes and ctx.in_plan(a)]
    for address in in_phase_order(removed):
        known = kind_of(address)
        if known is None:  # a kind this fwctl does not know: drop it from state, touch nothing
            ctx.add(address, prior[address].kind, Action.FORGET, reasons=("not a kind this fwctl knows",))
        else:
            known.plan_removal(address, prior[address], ctx)
    _record_lifecycle(ctx)
    _refuse_protected(ctx)
    if ctx.problems:
        raise PlanError(ctx.problems)
    return _assemble(request, ctx, order, deps)


def _check_addresses(request: PlanRequest, declared: Mapping[str, Resource],
                     prior: Mapping[str, ResourceState]) -> None:
    """--target and --replace name resources of this stack; else an error with a did-you-mean."""
    import difflib

    known = sorted(set(declared) | set(prior))
    problems: list[Problem] = []

    def problem(message: str) -> None:
        problems.append(Problem(file=None, line=None, col=None, address=None, field=None, message=message))

    for flag, addresses in (("--target", request.targets), ("--replace", request.replace)):
        for text in addresses:
            if text in known and (flag == "--target" or text in declared):
                continue
            if text in known:
                problem(f"--replace {text}: it is not in the manifests, so there is nothing to replace it with")
                continue
            close = difflib.get_close_matches(text, known, n=1)
            hint = (f"; did you mean {close[0]}?" if close
                    else f"; the stack has {', '.join(known[:8])}{' ...' if len(known) > 8 else ''}" if known
                    else "; the stack is empty")
            problem(f"{flag} {text}: no such resource in the manifests or the state{hint}")
    if request.destroy and request.replace:
        problem("--replace cannot be combined with a destroy")
    if problems:
        raise PlanError(problems)


def _targeted(request: PlanRequest, declared: Mapping[str, Resource],
              prior: Mapping[str, ResourceState]) -> frozenset[str]:
    """What a targeted plan carries out (Terraform's -target semantics): the targets (and what
    --replace names) with everything they depend on; what is destroyed takes everything that
    depends on it along. A replaced job kept for createBeforeDestroy goes with its address."""
    graph: dict[str, set[str]] = {a: set(d) for a, d in dependencies(declared).items()}
    for address, held in prior.items():
        if address not in declared:
            graph[address] = set(held.depends_on)
    named = {*request.targets, *request.replace}
    removing = named if request.destroy else {a for a in named if a not in declared}
    wanted = _closure(named - removing, graph) | _closure(removing, dependents(graph))
    wanted |= {a for a in prior if deposed_from(a) in wanted}
    return frozenset(wanted)


def _closure(starts: set[str], edges: Mapping[str, set[str]]) -> set[str]:
    seen: set[str] = set()
    stack = list(starts)
    while stack:
        current = stack.pop()
        if current not in seen:
            seen.add(current)
            stack.extend(edges.get(current, ()))
    return seen


def _record_lifecycle(ctx: PlanContext) -> None:
    """A lifecycle changed in the manifests is recorded by apply: on a resource with nothing else to
    do it is a state-only update (no remote call); otherwise its diffs join the change."""
    for address, change in list(ctx.changes.items()):
        res, held = ctx.resources.get(address), ctx.prior.get(address)
        if res is None or held is None or change.action is Action.CREATE:
            continue
        diffs = lifecycle_diffs(res, held.lifecycle)
        if not diffs:
            continue
        if change.action is Action.NOOP:
            ctx.changes[address] = change.model_copy(update={
                "action": Action.UPDATE, "diffs": diffs,
                "reasons": ("lifecycle only: the state records it; nothing changes on the platform",)})
        else:
            ctx.changes[address] = change.model_copy(update={"diffs": (*change.diffs, *diffs)})


#: What lifecycle.preventDestroy refuses.
_DESTROYS = {Action.DELETE: "delete it", Action.SCALE_TO_ZERO: "scale it to zero", Action.REPLACE: "replace it"}


def _refuse_protected(ctx: PlanContext) -> None:
    """preventDestroy refuses any plan that would delete, scale to zero or replace the resource."""
    for address, change in ctx.changes.items():
        what = _DESTROYS.get(change.action)
        if what is None or deposed_from(address) is not None or not ctx.in_plan(address):
            continue
        if not ctx.lifecycle_of(address).get("preventDestroy"):
            continue
        if change.action is Action.REPLACE:
            paths = change.replace_paths
            why = (f"{', '.join(paths)} {'forces' if len(paths) == 1 else 'force'} replacement" if paths
                   else "forced by --replace" if address in ctx.replace
                   else change.reasons[0] if change.reasons else "it cannot be kept")
            message = (f"is true, and this plan would replace it ({why}); undo that change, or set "
                       "preventDestroy: false to allow the replacement")
        elif address in ctx.manifests:
            message = (f"is true, and this destroy would {what}; set preventDestroy: false in the manifests "
                       "to allow it, or --target only what should go")
        else:
            message = (f"is true (as recorded when it was last applied), and this plan would {what} because "
                       "it is no longer in the manifests; declare it again with preventDestroy: false and "
                       f"apply first, or `fwctl state rm {address}` to stop managing it and leave it running")
        ctx.error(address, "spec.lifecycle.preventDestroy", message)


def _assemble(request: PlanRequest, ctx: PlanContext, order: list[str], deps: Mapping[str, set[str]]) -> Plan:
    resources = ctx.resources
    created_only: dict[str, set[str]] = {}
    for res in resources.values():
        if ctx.in_plan(res.address):
            for source, target in kind(res.kind).created_only_edges(res, ctx):
                created_only.setdefault(source, set()).add(target)
    ordered: list[Change] = []
    for address in order:
        if address in ctx.changes:
            weak = created_only.get(address, set())
            strong = set(deps.get(address, ())) - weak
            ordered.append(ctx.changes[address].model_copy(update={
                "depends_on": tuple(sorted(strong)), "after_created": tuple(sorted(weak))}))
    users = dependents(deps)
    goes_first: dict[str, set[str]] = {}  # address -> the deposed removals its create waits for
    for address, change in ctx.changes.items():
        if address in resources:
            continue
        origin = deposed_from(address)
        successor = ctx.changes.get(origin) if origin is not None else None
        if (origin is not None and successor is not None and successor.action in (Action.CREATE, Action.REPLACE)
                and successor.prior_remote_id != change.remote_id):
            # A replaced job whose removal an earlier apply did not complete (delete before create):
            # the next job of its address is created once it is gone.
            goes_first.setdefault(origin, set()).add(address)
            depends: tuple[str, ...] = ()
        elif origin is not None:
            # A job replaced with createBeforeDestroy goes once its successor is ready and every change
            # that uses it (a binding re-pointing its deployment) is done.
            waits = {origin} | users.get(origin, set())
            depends = tuple(sorted(a for a in waits if a in ctx.changes))
        else:
            # Removals wait only for the removals of what depends on them (reverse order).
            held = ctx.prior.get(address)
            depends = tuple(a for a in held.depends_on if a not in resources) if held else change.depends_on
        ordered.append(change.model_copy(update={"depends_on": depends}))
    if goes_first:
        ordered = [c.model_copy(update={"depends_on": tuple(sorted({*c.depends_on, *goes_first[c.address]}))})
                   if c.address in goes_first else c for c in ordered]
    if ctx.targeted is not None:
        wanted = ctx.targeted
        ordered = [c for c in ordered if c.address in wanted or deposed_from(c.address) in wanted]
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
        targets=tuple(request.targets),
        changes=tuple(ordered),
    )


__all__ = ["PlanError", "PlanRequest", "plan_changes"]
