"""Refresh: a fresh read of the account, everything the planner will look at.

Level-based: every plan starts here, never from what the state file thinks is there. Each kind
says what it needs read (``Kind.reads``, then ``Kind.later_reads`` once the first reads are in);
reads run concurrently, and when many resources are involved the list endpoints (paginated)
replace one GET per resource.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from reconciler.kinds import kind, kind_of
from reconciler.kinds.base import Known, Reads
from reconciler.model.remote import (
    Checkpoint,
    DeploymentInfo,
    HotLoadStatus,
    Observed,
    TrainerJob,
    TrainingShapeVersion,
)
from reconciler.model.resources import Resource
from reconciler.model.state import StateDocument
from reconciler.provider.base import Provider
from reconciler.provider.errors import ProviderError

# Above this many ids of one kind, one paginated list is cheaper than a GET each.
LIST_THRESHOLD = 3


def wanted_reads(known: Known) -> Reads:
    """The remote resources the planner may ask about: what the state holds and what is declared."""
    reads = Reads()
    for address, held in known.held.items():
        k = kind_of(address)
        target = {"trainer": reads.trainers, "deployment": reads.deployments}.get(k.holds or "") if k else None
        if target is None:
            continue
        target.update(held.remote_ids)
    for res in known.resources.values():
        kind(res.kind).reads(res, known, reads)
    return reads


async def refresh(
    provider: Provider, stack: str, resources: Mapping[str, Resource], prior: StateDocument | None
) -> Observed:
    account = await provider.account_id()
    known = Known(stack, resources, prior)
    reads = wanted_reads(known)
    trainers, deployments = await asyncio.gather(
        _read_trainers(provider, reads.trainers), _read_deployments(provider, reads.deployments)
    )
    first = Observed(account=account, trainers=trainers, deployments=deployments)
    for res in resources.values():
        kind(res.kind).later_reads(res, known, first, reads)

    async def checkpoints(job_id: str) -> tuple[str, tuple[Checkpoint, ...]]:
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
        asyncio.gather(*(checkpoints(j) for j in sorted(reads.checkpoints))),
        asyncio.gather(*(hot_load(d, m) for d, m in sorted(reads.hot_load.items()))),
        asyncio.gather(*(shape(n) for n in sorted(reads.training_shapes))),
    )
    return first.model_copy(update={
        "checkpoints": dict(ckpt_results),
        "hot_load": {d: s for d, s in hot_results if s is not None},
        "training_shapes": {n: s for n, s in shape_results if s is not None},
    })


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
