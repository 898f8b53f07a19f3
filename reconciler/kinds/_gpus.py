"""What a trainer job or a deployment holds in GPUs, from a plan's compared config (issue 15).

The engine (``reconciler.cost``) asks each kind through ``Kind.gpus``; a kind without GPUs (a
binding) answers None. ``config`` is one side of a change (``Change.before`` / ``Change.after``:
manifest paths such as ``trainingShape``, ``accelerator.type``, ``replicas.max``); ``remote_id``,
given for the side that exists now, lets the live resource say it is not billed (a trainer job
that is FAILED, PAUSED or a tombstone; a deleted deployment) or what it really runs (replicas).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.model.plan import Gpus
from reconciler.model.remote import Observed, shape_of


def _shape(shapes: Mapping[str, Any], name: str | None) -> Any:
    """A shape version read for the plan, by the name declared or by its shape (a versioned read-back)."""
    if not name:
        return None
    found = shapes.get(name)
    if found is not None:
        return found
    parent = shape_of(name)
    return next((v for k, v in shapes.items() if shape_of(k) == parent or v.shape == parent), None)


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def job_gpus(_kind: Any, config: Mapping[str, Any], observed: Observed, remote_id: str | None = None) -> Gpus | None:
    """A trainer job: accelerator count x node count per replica, ``replicaCount`` replicas (floor = ceiling)."""
    if remote_id is not None:
        job = observed.trainers.get(remote_id)
        if job is None or job.gone or job.resumable:  # not running: nothing billed (a tombstone bills nothing)
            return None
    shape = _shape(observed.training_shapes, config.get("trainingShape"))
    if shape is not None:
        accelerator, count, nodes = shape.accelerator_type, shape.accelerator_count, shape.node_count
    else:
        accelerator, count, nodes = config.get("accelerator.type"), config.get("accelerator.count"), config.get("nodeCount")
    replicas = _int(config.get("replicaCount"), 1)
    if not accelerator or not count:  # an auto-selected shape: the platform picks the GPUs at create
        return Gpus(accelerator=None, count=0, min_replicas=replicas, max_replicas=replicas)
    return Gpus(accelerator=accelerator, count=_int(count, 1) * _int(nodes, 1), min_replicas=replicas,
                max_replicas=replicas)


def deployment_gpus(_kind: Any, config: Mapping[str, Any], observed: Observed,
                    remote_id: str | None = None) -> Gpus | None:
    """A deployment: its shape's (or declared) accelerators per replica, between replicas.min and .max."""
    low, high = _int(config.get("replicas.min"), 1), _int(config.get("replicas.max"), 1)
    live_type = live_count = None
    if remote_id is not None:
        dep = observed.deployments.get(remote_id)
        if dep is None or dep.gone:
            return None
        low, high = dep.config.min_replicas, dep.config.max_replicas
        live_type, live_count = dep.config.accelerator_type, dep.config.accelerator_count
    if high == 0:  # parked at zero replicas: no GPUs
        return None
    shape = _shape(observed.deployment_shapes, config.get("deploymentShape"))
    accelerator = live_type or (shape.accelerator_type if shape else None) or config.get("accelerator.type")
    count = live_count or (shape.accelerator_count if shape else None) or config.get("accelerator.count")
    if not accelerator or not count:
        return Gpus(accelerator=None, count=0, min_replicas=low, max_replicas=high)
    return Gpus(accelerator=accelerator, count=_int(count, 1), min_replicas=low, max_replicas=high)


__all__ = ["deployment_gpus", "job_gpus"]
