"""Refresh: a fresh read of the account, everything the planner will look at.

Level-based: every plan starts here, never from what the state file thinks is there. Reads run
concurrently; when many resources are involved the list endpoints (paginated) replace one GET
per resource.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from reconciler.model.remote import (
    DeploymentInfo,
    HotLoadStatus,
    Observed,
    TrainerJob,
    TrainingShapeVersion,
)
from reconciler.model.resources import Deployment, ReferenceTrainer, Resource, SyncBinding, Trainer
from reconciler.model.state import StateDocument
from reconciler.provider.base import Provider
from reconciler.provider.errors import ProviderError

# Above this many ids of one kind, one paginated list is cheaper than a GET each.
LIST_THRESHOLD = 3


def wanted_ids(
    stack: str, resources: Mapping[str, Resource], prior: StateDocument | None
) -> tuple[set[str], set[str]]:
    """Trainer job ids and deployment ids the planner may ask about."""
    jobs: set[str] = set()
    deps: set[str] = set()
    for held in (prior.resources.values() if prior else ()):
        kinds = {"Deployment": deps, "Trainer": jobs, "ReferenceTrainer": jobs}
        target = kinds.get(held.kind)
        if target is None:
            continue
        for rid in (held.remote_id, held.pending.remote_id if held.pending else None):
            if rid:
                target.add(rid)
    for res in resources.values():
        if isinstance(res, Trainer) and res.spec.job_id:
            jobs.add(res.spec.job_id)
        elif isinstance(res, Deployment):
            deps.add(res.spec.deployment_id or f"{stack}-{res.metadata.name}")
    return jobs, deps


async def refresh(
    provider: Provider, stack: str, resources: Mapping[str, Resource], prior: StateDocument | None
) -> Observed:
    account = await provider.account_id()
    job_ids, dep_ids = wanted_ids(stack, resources, prior)
    trainers, deployments = await asyncio.gather(
        _read_trainers(provider, job_ids), _read_deployments(provider, dep_ids)
    )
    prior_ids = {a: r.remote_id for a, r in (prior.resources.items() if prior else ()) if r.remote_id}

    def trainer_id(name: str) -> str | None:
        res = resources.get(f"Trainer/{name}")
        if isinstance(res, Trainer) and res.spec.job_id:
            return res.spec.job_id
        return prior_ids.get(f"Trainer/{name}")

    checkpoint_jobs: set[str] = set()
    hot_load_deps: dict[str, str] = {}
    training_shapes: set[str] = set()
    for res in resources.values():
        if isinstance(res, SyncBinding):
            job_id = trainer_id(res.spec.trainer)
            if res.spec.snapshot and job_id and trainers.get(job_id) is not None:
                checkpoint_jobs.add(job_id)
            dep_res = resources.get(f"Deployment/{res.spec.deployment}")
            if isinstance(dep_res, Deployment):
                dep_id = dep_res.spec.deployment_id or prior_ids.get(dep_res.address) or f"{stack}-{dep_res.metadata.name}"
                dep = deployments.get(dep_id)
                if dep is not None and dep.ready and dep.replica_count > 0:
                    hot_load_deps[dep_id] = dep_res.spec.base_model
        elif isinstance(res, ReferenceTrainer) and res.spec.training_shape:
            training_shapes.add(res.spec.training_shape)

    async def checkpoints(job_id: str) -> tuple[str, tuple]:
        return job_id, tuple(await provider.list_checkpoints(job_id))

    async def hot_load(dep_id: str, base_model: str) -> tuple[str, HotLoadStatus | None]:
        try:
            return dep_id, await provider.hot_load_status(dep_id, base_model)
        except ProviderError:
            return dep_id, None

    async def shape(name: str) -> tuple[str, TrainingShapeVersion | None]:
        try:
            return name, await provider.get_training_shape_version(name)
        except ProviderError:
            return name, None

    ckpt_results, hot_results, shape_results = await asyncio.gather(
        asyncio.gather(*(checkpoints(j) for j in sorted(checkpoint_jobs))),
        asyncio.gather(*(hot_load(d, m) for d, m in sorted(hot_load_deps.items()))),
        asyncio.gather(*(shape(n) for n in sorted(training_shapes))),
    )
    return Observed(
        account=account,
        trainers=trainers,
        deployments=deployments,
        checkpoints=dict(ckpt_results),
        hot_load={d: s for d, s in hot_results if s is not None},
        training_shapes={n: s for n, s in shape_results if s is not None},
    )


async def _read_trainers(provider: Provider, ids: set[str]) -> dict[str, TrainerJob | None]:
    if not ids:
        return {}
    if len(ids) > LIST_THRESHOLD:
        listed = {job.job_id: job for job in await provider.list_trainer_jobs()}
        found: dict[str, TrainerJob | None] = {i: listed.get(i) for i in ids}
        # Lists hide tombstones: ask for the missing ones one by one (rarely more than a few).
        missing = [i for i in ids if found[i] is None]
        for job_id, job in zip(missing, await asyncio.gather(*(provider.get_trainer_job(i) for i in missing)),
                               strict=True):
            found[job_id] = job
        return found
    jobs = await asyncio.gather(*(provider.get_trainer_job(i) for i in sorted(ids)))
    return dict(zip(sorted(ids), jobs, strict=True))


async def _read_deployments(provider: Provider, ids: set[str]) -> dict[str, DeploymentInfo | None]:
    if not ids:
        return {}
    if len(ids) > LIST_THRESHOLD:
        listed = {dep.deployment_id: dep for dep in await provider.list_deployments()}
        return {i: listed.get(i) for i in ids}
    deps = await asyncio.gather(*(provider.get_deployment(i) for i in sorted(ids)))
    return dict(zip(sorted(ids), deps, strict=True))

