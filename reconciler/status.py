"""Live health of a stack, Argo-CD style. Pure: no I/O.

Input: the declared resources, the state, a fresh read of the account (``reconciler.refresh``) and
the trainer health probes' results. Output: one ``ResourceHealth`` per address, with the reason,
from each kind's ``Kind.health`` (kinds of a lower phase first, so a binding sees its trainer's).
"""

from __future__ import annotations

from collections.abc import Mapping

from reconciler.kinds import KINDS, in_phase_order, kind_of
from reconciler.kinds.base import Known
from reconciler.model.health import FAILING, Health, ResourceHealth
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
        rid = k.known_remote_id(address, resources.get(address), known)
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


def failing(results: list[ResourceHealth]) -> bool:
    return any(r.health in FAILING for r in results)


__all__ = ["Health", "ResourceHealth", "classify", "deployment_ids", "failing", "probe_targets", "trainer_ids"]
