"""Live health of a stack, Argo-CD style (issue 5, point 7). Pure: no I/O.

Input: the declared resources, the state, a fresh read of the account (``reconciler.refresh``) and
the trainer health probes' results. Output: one ``ResourceHealth`` per address, with the reason.

- Healthy: running / READY / attached and serving what is pinned.
- Progressing: on its way (creating, pending, updating, hot-loading).
- Degraded: broken until someone acts (a preempted or failed trainer, a failed health probe,
  a failed deployment, a binding attached elsewhere or serving the wrong snapshot).
- Suspended: deliberately idle (a deployment scaled to zero, a paused trainer).
- Missing: declared (or in state) but not on the platform.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from reconciler.model.remote import Observed, TrainerJob
from reconciler.model.resources import Deployment, ReferenceTrainer, Resource, SyncBinding, Trainer
from reconciler.model.state import StateDocument


class Health(StrEnum):
    HEALTHY = "Healthy"
    PROGRESSING = "Progressing"
    DEGRADED = "Degraded"
    SUSPENDED = "Suspended"
    MISSING = "Missing"


FAILING = frozenset({Health.DEGRADED, Health.MISSING})
KIND_ORDER = {"Trainer": 0, "ReferenceTrainer": 1, "Deployment": 2, "SyncBinding": 3}


@dataclass(frozen=True)
class ResourceHealth:
    address: str
    kind: str
    health: Health
    reason: str
    remote_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"address": self.address, "kind": self.kind, "health": self.health.value, "reason": self.reason,
                "remote_id": self.remote_id}


def trainer_ids(stack: str, resources: Mapping[str, Resource], state: StateDocument | None) -> dict[str, str]:
    """Address -> trainer job id, for Trainers and separate ReferenceTrainers that have one."""
    held = state.resources if state else {}
    ids: dict[str, str] = {}
    for address, res in held.items():
        if res.kind in ("Trainer", "ReferenceTrainer") and res.remote_id:
            ids[address] = res.remote_id
    for address, decl in resources.items():
        if isinstance(decl, Trainer) and decl.spec.job_id:
            ids[address] = decl.spec.job_id
    return ids


def deployment_ids(stack: str, resources: Mapping[str, Resource], state: StateDocument | None) -> dict[str, str]:
    held = state.resources if state else {}
    ids = {a: r.remote_id for a, r in held.items() if r.kind == "Deployment" and r.remote_id}
    for address, decl in resources.items():
        if isinstance(decl, Deployment) and address not in ids:
            ids[address] = decl.spec.deployment_id or f"{stack}-{decl.metadata.name}"
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
    held = state.resources if state else {}
    jobs = trainer_ids(stack, resources, state)
    deps = deployment_ids(stack, resources, state)
    results: dict[str, ResourceHealth] = {}
    addresses = list(resources) + [a for a in held if a not in resources]

    for address in addresses:
        kind = address.split("/", 1)[0]
        decl = resources.get(address)
        if kind in ("Trainer", "ReferenceTrainer"):
            if isinstance(decl, ReferenceTrainer) and address not in jobs:
                continue  # maybe a shared session: after the policies
            results[address] = _trainer(address, kind, jobs.get(address), observed, probes)
        elif kind == "Deployment":
            results[address] = _deployment(address, deps.get(address), observed, held.get(address) is not None)

    for address in addresses:
        decl = resources.get(address)
        if isinstance(decl, ReferenceTrainer) and address not in results:
            policy = f"Trainer/{decl.spec.policy}"
            policy_health = results.get(policy)
            shared = decl.spec.training_shape is None
            if not shared:
                results[address] = ResourceHealth(address, "ReferenceTrainer", Health.MISSING,
                                                  "no forward-only trainer job yet (run fwctl apply)")
            elif policy_health is None:
                results[address] = ResourceHealth(address, "ReferenceTrainer", Health.MISSING,
                                                  f"shared with {policy}, which is not declared")
            else:
                results[address] = ResourceHealth(
                    address, "ReferenceTrainer", policy_health.health,
                    f"shared with {policy} (no remote resource): {policy_health.reason}", policy_health.remote_id)
        elif isinstance(decl, SyncBinding):
            results[address] = _binding(decl, jobs, deps, observed)
        elif decl is None and address.startswith("SyncBinding/"):
            results[address] = ResourceHealth(address, "SyncBinding", Health.MISSING,
                                              "in state but no longer declared (run fwctl apply to detach)")

    return sorted(results.values(), key=lambda r: (KIND_ORDER.get(r.kind, 9), r.address))


def _trainer(address: str, kind: str, job_id: str | None, observed: Observed,
             probes: Mapping[str, str | None]) -> ResourceHealth:
    if job_id is None:
        return ResourceHealth(address, kind, Health.MISSING, "no trainer job yet (run fwctl apply)")
    job: TrainerJob | None = observed.trainers.get(job_id)
    if job is None:
        return ResourceHealth(address, kind, Health.MISSING, f"trainer job {job_id} not found", job_id)
    message = f": {job.status_message}" if job.status_message else ""
    short = job.state.removeprefix("JOB_STATE_")
    if job.gone:
        return ResourceHealth(address, kind, Health.MISSING, f"trainer job {job_id} is {short}{message}", job_id)
    if job.running:
        if job_id not in probes:
            return ResourceHealth(address, kind, Health.PROGRESSING, f"{short}; health not probed yet", job_id)
        problem = probes[job_id]
        if problem:
            return ResourceHealth(address, kind, Health.DEGRADED, f"{short}, but {problem}", job_id)
        return ResourceHealth(address, kind, Health.HEALTHY,
                              f"{short}; healthz ok; serves {job.config.base_model}", job_id)
    if job.state == "JOB_STATE_PAUSED":
        return ResourceHealth(address, kind, Health.SUSPENDED, f"trainer job {job_id} is {short}{message}", job_id)
    if job.resumable:
        return ResourceHealth(address, kind, Health.DEGRADED,
                              f"trainer job {job_id} is {short}{message} (fwctl apply resumes it)", job_id)
    return ResourceHealth(address, kind, Health.PROGRESSING, f"trainer job {job_id} is {short}{message}", job_id)


def _deployment(address: str, dep_id: str | None, observed: Observed, in_state: bool) -> ResourceHealth:
    dep = observed.deployments.get(dep_id) if dep_id else None
    if dep is None or dep.state in ("DELETED", "DELETING"):
        why = f"deployment {dep_id} is {dep.state}" if dep is not None else (
            f"deployment {dep_id} not found" if in_state else "no deployment yet (run fwctl apply)")
        return ResourceHealth(address, "Deployment", Health.MISSING, why, dep_id)
    message = f": {dep.status_message}" if dep.status_message else ""
    if dep.bad:
        return ResourceHealth(address, "Deployment", Health.DEGRADED, f"deployment is {dep.state}{message}", dep_id)
    replicas = f"{dep.replica_count} replica{'s' if dep.replica_count != 1 else ''} " \
               f"(min {dep.config.min_replicas}, max {dep.config.max_replicas})"
    if dep.config.max_replicas == 0:
        return ResourceHealth(address, "Deployment", Health.SUSPENDED,
                              f"scaled to zero ({dep.state}, no replicas)", dep_id)
    if not dep.ready:
        return ResourceHealth(address, "Deployment", Health.PROGRESSING, f"{dep.state}{message}; {replicas}", dep_id)
    if dep.replica_count < dep.config.min_replicas:
        return ResourceHealth(address, "Deployment", Health.PROGRESSING, f"READY, scaling: {replicas}", dep_id)
    return ResourceHealth(address, "Deployment", Health.HEALTHY, f"READY; {replicas}", dep_id)


def _binding(res: SyncBinding, jobs: Mapping[str, str], deps: Mapping[str, str],
             observed: Observed) -> ResourceHealth:
    address = res.address
    spec = res.spec
    job_id = jobs.get(f"Trainer/{spec.trainer}")
    dep_id = deps.get(f"Deployment/{spec.deployment}")
    dep = observed.deployments.get(dep_id) if dep_id else None
    job = observed.trainers.get(job_id) if job_id else None
    if dep is None or dep.state in ("DELETED", "DELETING"):
        return ResourceHealth(address, "SyncBinding", Health.MISSING,
                              f"deployment {dep_id or spec.deployment} does not exist", dep_id)
    if job is None or job.gone:
        return ResourceHealth(address, "SyncBinding", Health.MISSING,
                              f"trainer Trainer/{spec.trainer} has no live job", dep_id)
    if dep.config.max_replicas == 0:
        return ResourceHealth(address, "SyncBinding", Health.SUSPENDED,
                              f"deployment {dep_id} is scaled to zero", dep_id)
    if spec.scope == "perDeployment":
        if job.config.hot_load_deployment_id != dep_id:
            return ResourceHealth(address, "SyncBinding", Health.DEGRADED,
                                  f"trainer job {job.job_id} is not created for deployment {dep_id}", dep_id)
        attached = f"trainer job {job.job_id} feeds deployment {dep_id} (perDeployment)"
    else:
        if dep.config.hot_load_trainer_job != job.name:
            if dep.state == "UPDATING":
                return ResourceHealth(address, "SyncBinding", Health.PROGRESSING,
                                      f"deployment {dep_id} is UPDATING towards {job.name}", dep_id)
            serves = dep.config.hot_load_trainer_job or "no trainer"
            return ResourceHealth(address, "SyncBinding", Health.DEGRADED,
                                  f"deployment {dep_id} is attached to {serves}, not {job.name}", dep_id)
        attached = f"deployment {dep_id} attached to {job.job_id}"
    if not dep.ready:
        return ResourceHealth(address, "SyncBinding", Health.PROGRESSING, f"{attached}; deployment is {dep.state}",
                              dep_id)
    status = observed.hot_load.get(dep_id) if dep_id else None
    served = status.current_snapshot if status is not None else None
    if spec.snapshot and served != spec.snapshot:
        replica = status.replicas[0] if status is not None and status.replicas else None
        if replica is not None and replica.target_snapshot == spec.snapshot:
            if replica.stage == "error":
                return ResourceHealth(address, "SyncBinding", Health.DEGRADED,
                                      f"hot load of pinned {spec.snapshot} failed: {replica.message}", dep_id)
            if replica.stage == "loading":
                return ResourceHealth(address, "SyncBinding", Health.PROGRESSING,
                                      f"{attached}; hot-loading pinned {spec.snapshot}", dep_id)
        return ResourceHealth(address, "SyncBinding", Health.DEGRADED,
                              f"{attached}; serves {served or 'no snapshot'}, pinned {spec.snapshot}", dep_id)
    serving = f"; serves snapshot {served}" if served else "; no snapshot loaded yet"
    pinned = " (pinned)" if spec.snapshot else ""
    return ResourceHealth(address, "SyncBinding", Health.HEALTHY, f"{attached}{serving}{pinned}", dep_id)


def failing(results: list[ResourceHealth]) -> bool:
    return any(r.health in FAILING for r in results)


__all__ = ["Health", "ResourceHealth", "classify", "deployment_ids", "failing", "probe_targets", "trainer_ids"]
