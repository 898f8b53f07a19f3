"""Drift: what changed on the platform since fwctl last wrote state (``plan --refresh-only``).

Pure. Compares each address's recorded view with a fresh read and returns the differences and the
state as it should be recorded now (gone resources dropped, views and outputs refreshed). It never
proposes changes to the platform.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reconciler.diff import deployment_view, trainer_view
from reconciler.model.remote import Observed
from reconciler.model.state import ResourceState, StateDocument


@dataclass(frozen=True)
class Drift:
    address: str
    message: str


def _changed(recorded: dict[str, Any] | None, now: dict[str, Any]) -> list[str]:
    if not recorded:
        return []
    out = []
    for path, value in now.items():
        if path in recorded and recorded[path] is not None and recorded[path] != value:
            if path in ("trainingShape", "deploymentShape") and str(value).startswith(str(recorded[path])):
                continue  # a newer version of the same shape
            out.append(f"{path}: {recorded[path]!r} -> {value!r}")
    return out


def detect_drift(prior: StateDocument, observed: Observed) -> tuple[list[Drift], StateDocument]:
    drifts: list[Drift] = []
    doc = prior
    for address, res in prior.resources.items():
        if res.kind in ("Trainer", "ReferenceTrainer") and res.remote_id:
            job = observed.trainers.get(res.remote_id)
            if job is None or job.gone:
                drifts.append(Drift(address, f"trainer job {res.remote_id} is gone "
                                             f"({job.state if job else 'not found'}); dropped from state"))
                doc = doc.with_resource(address, None)
                continue
            view = trainer_view(job.config)
            changes = _changed(res.applied, view)
            if job.state != res.outputs.get("state"):
                changes.append(f"state: {res.outputs.get('state')} -> {job.state}"
                               + (f" ({job.status_message})" if job.status_message else ""))
            for change in changes:
                drifts.append(Drift(address, change))
            outputs = {**res.outputs, "state": job.state}
            doc = doc.with_resource(address, _refreshed(res, view, outputs))
        elif res.kind == "Deployment" and res.remote_id:
            dep = observed.deployments.get(res.remote_id)
            if dep is None or dep.state == "DELETED":
                drifts.append(Drift(address, f"deployment {res.remote_id} is gone; dropped from state"))
                doc = doc.with_resource(address, None)
                continue
            view = deployment_view(dep.config)
            changes = _changed(res.applied, view)
            if dep.state != res.outputs.get("state"):
                changes.append(f"state: {res.outputs.get('state')} -> {dep.state}")
            attached = res.outputs.get("attached_trainer")
            if attached and dep.config.hot_load_trainer_job != attached:
                changes.append(f"attached trainer: {attached} -> {dep.config.hot_load_trainer_job}")
            status = observed.hot_load.get(res.remote_id)
            served = res.outputs.get("snapshot")
            if served and status is not None and status.current_snapshot != served:
                changes.append(f"served snapshot: {served} -> {status.current_snapshot}")
            for change in changes:
                drifts.append(Drift(address, change))
            outputs = {**res.outputs, "state": dep.state,
                       "replicas": {"min": dep.config.min_replicas, "max": dep.config.max_replicas}}
            doc = doc.with_resource(address, _refreshed(res, view, outputs))
    return drifts, doc


def _refreshed(res: ResourceState, view: dict[str, Any], outputs: dict[str, Any]) -> ResourceState:
    applied = {k: view.get(k, v) for k, v in (res.applied or {}).items()} if res.applied else res.applied
    return res.model_copy(update={"applied": applied, "outputs": outputs})
