"""Live health of a stack, Argo-CD style. Pure: no I/O.

Input: the declared resources, the state, a fresh read of the account (``reconciler.refresh``) and
the trainer health probes' results. Output: one ``ResourceHealth`` per address, with the reason,
from each kind's ``Kind.health`` (kinds of a lower phase first, so a binding sees its trainer's).

Sync (``with_sync``) is the plan's verdict, the one mechanism that knows what apply would do: a
resource is OutOfSync when a pending change is at its address or modifies the remote object it
holds (a binding re-pointing a deployment), Unknown when no plan could be made.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping

from reconciler.kinds import KINDS, in_phase_order, kind_of
from reconciler.kinds.base import Known
from reconciler.model.health import FAILING, Health, ResourceHealth, Sync
from reconciler.model.plan import Change, Plan
from reconciler.model.remote import Observed
from reconciler.model.resources import Resource
from reconciler.model.state import StateDocument


def trainer_ids(stack: str, resources: Mapping[str, Resource], state: StateDocument | None) -> dict[str, str]:
    """Address -> trainer job id, for every address holding (or naming) a trainer job."""
    return _remote_ids("trainer", stack, resources, state)


def deployment_ids(stack: str, resources: Mapping[str, Resource], state: StateDocument | None) -> dict[str, str]:
    """Address -> deployment id, for every declared or recorded deployment."""
    return _remote_ids("deployment", stack, resources, state)


def _remote_ids(holds: str, stack: str, resources: Mapping[str, Resource],
                state: StateDocument | None) -> dict[str, str]:
    known = Known(stack, resources, state)
    ids: dict[str, str] = {}
    for address in [*known.held, *(a for a in resources if a not in known.held)]:
        k = kind_of(address)
        if k is None or k.holds != holds:
            continue
        held = known.held.get(address)  # a create in flight: its pending id is where the resource will be
        rid = k.known_remote_id(address, resources.get(address), known) or (held.pending_create if held else None)
        if rid:
            ids[address] = rid
    return ids


def probe_targets(stack: str, resources: Mapping[str, Resource], state: StateDocument | None,
                  observed: Observed) -> dict[str, str]:
    """Trainer job id -> declared base model, for the RUNNING trainers worth probing."""
    targets: dict[str, str] = {}
    for job_id in trainer_ids(stack, resources, state).values():
        job = observed.trainers.get(job_id)
        if job is not None and job.running:
            targets[job_id] = job.config.base_model
    return targets


def classify(
    stack: str,
    resources: Mapping[str, Resource],
    state: StateDocument | None,
    observed: Observed,
    probes: Mapping[str, str | None],
) -> list[ResourceHealth]:
    """``probes``: trainer job id -> None when its health probe passed, else the probe's message."""
    known = Known(stack, resources, state)
    addresses = list(resources) + [a for a in known.held if a not in resources]
    results: dict[str, ResourceHealth] = {}
    for address in in_phase_order(addresses):  # a binding after its trainer and deployment
        k = kind_of(address)
        health = k.health(address, resources.get(address), known, observed, probes, results) if k else None
        if health is not None:
            results[address] = health
    order = {name: k.order for name, k in KINDS.items()}
    return sorted(results.values(), key=lambda r: (order.get(r.kind, 9), r.address))


def with_sync(results: list[ResourceHealth], plan: Plan | None, plan_problem: str = "") -> list[ResourceHealth]:
    """``results`` with their sync column: from ``plan``, or Unknown (``plan_problem``) without one."""
    if plan is None:
        why = f"no plan can be made: {plan_problem}" if plan_problem else "no plan can be made"
        return [dataclasses.replace(r, sync=Sync.UNKNOWN, sync_reason=why) for r in results]
    holders: dict[str, list[str]] = {}
    for r in results:
        k = kind_of(r.address)
        if r.remote_id and k is not None and k.holds is not None:
            holders.setdefault(r.remote_id, []).append(r.address)
    pending: dict[str, list[str]] = {}
    for change in plan.pending:
        pending.setdefault(change.address, []).append(_would(change))
        for holder in holders.get(change.remote_id or "", ()):
            if holder != change.address:
                pending.setdefault(holder, []).append(f"{_would(change)} (by {change.address})")
    return [dataclasses.replace(r, sync=Sync.OUT_OF_SYNC, sync_reason="; ".join(pending[r.address]))
            if r.address in pending else r for r in results]


def _would(change: Change) -> str:
    """What apply would do, in a few words: ``update replicas.max 1 -> 2``."""
    details = [f"{d.path} {_short(d.before)} -> {_short(d.after)}" for d in change.diffs] or list(change.reasons)
    return f"apply would {change.action.value}" + (f": {', '.join(details)}" if details else "")


def _short(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def failing(results: list[ResourceHealth]) -> bool:
    return any(r.health in FAILING for r in results)


def out_of_sync(results: list[ResourceHealth]) -> bool:
    return any(r.sync is not Sync.SYNCED for r in results)


__all__ = ["Health", "ResourceHealth", "Sync", "classify", "deployment_ids", "failing", "out_of_sync",
           "probe_targets", "trainer_ids", "with_sync"]
