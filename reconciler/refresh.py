"""Refresh: a fresh read of the account, everything the planner will look at.

Level-based: every plan starts here, never from what the state file thinks is there. Each kind
says what it needs read (``Kind.reads``, then ``Kind.later_reads`` once the first reads are in);
reads run concurrently, and when many resources are involved the list endpoints (paginated)
replace one GET per resource. The account's catalog (base models, training and deployment shapes)
is read once per distinct name for the whole plan, so the planner can refuse at plan time what
apply would be refused; a stack with no state yet has the candidate ids of its trainers read
(``Reads.fresh_ids``) so its plan names the ids apply will create.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from reconciler.kinds import kind, kind_of
from reconciler.kinds.base import Known, Reads
from reconciler.model.remote import (
    BaseModelInfo,
    Checkpoint,
    DeploymentInfo,
    DeploymentShapeVersion,
    HotLoadStatus,
    Observed,
    TrainerJob,
    TrainingShapeVersion,
)
from reconciler.model.resources import Resource
from reconciler.model.state import StateDocument
from reconciler.provider.base import Provider
from reconciler.provider.errors import NotFound, ProviderError

# Above this many ids of one kind, one paginated list is cheaper than a GET each.
LIST_THRESHOLD = 3
# Candidate ids read per trainer of a stack with no state yet (each deleted one costs one more).
MAX_ID_PROBES = 16


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
    trainers, deployments, catalog = await asyncio.gather(
        _read_trainers(provider, reads.trainers), _read_deployments(provider, reads.deployments),
        _read_catalog(provider, reads),
    )
    trainers.update(await _probe_ids(provider, reads, trainers))
    first = Observed(account=account, trainers=trainers, deployments=deployments, **catalog)
    for res in resources.values():
        kind(res.kind).later_reads(res, known, first, reads)

    async def checkpoints(job_id: str) -> tuple[str, tuple[Checkpoint, ...]]:
        return job_id, tuple(await provider.list_checkpoints(job_id))

    async def hot_load(dep_id: str, base_model: str) -> tuple[str, HotLoadStatus | None]:
        try:
            return dep_id, await provider.hot_load_status(dep_id, base_model)
        except ProviderError:
            return dep_id, None

    async def pins(name: str) -> tuple[str, DeploymentShapeVersion]:
        """Which training shapes pin a shape a create names (only then: forTraining is a create flag)."""
        version = first.deployment_shapes[name]
        try:
            return name, version.model_copy(update={
                "pinned_by": tuple(await provider.training_shapes_pinning(version.name))})
        except ProviderError:
            return name, version

    ckpt_results, hot_results, pin_results = await asyncio.gather(
        asyncio.gather(*(checkpoints(j) for j in sorted(reads.checkpoints))),
        asyncio.gather(*(hot_load(d, m) for d, m in sorted(reads.hot_load.items()))),
        asyncio.gather(*(pins(n) for n in sorted(reads.pins))),
    )
    return first.model_copy(update={
        "checkpoints": dict(ckpt_results),
        "hot_load": {d: s for d, s in hot_results if s is not None},
        "deployment_shapes": {**first.deployment_shapes, **dict(pin_results)},
    })


async def _read_catalog(provider: Provider, reads: Reads) -> dict[str, Any]:
    """Each declared model and shape, once: found, missing (with the reason), or unknown (the read
    failed otherwise, e.g. a key without the scope: the planner then leaves the check to apply)."""
    missing: dict[str, str] = {}

    async def model(name: str) -> tuple[str, BaseModelInfo | None]:
        try:
            found = await provider.get_model(name)
        except ProviderError:
            return name, None
        if found is None:
            missing[name] = "is not in the account's catalog"
        return name, found

    async def shape(name: str, read: Callable[[str], Awaitable[Any]]) -> tuple[str, Any]:
        try:
            return name, await read(name)
        except NotFound as exc:
            missing[name] = ("has no validated version" if exc.message.endswith("no validated version")
                             else "is not in the account's catalog")
        except ProviderError:
            pass
        return name, None

    models, training, served = await asyncio.gather(
        asyncio.gather(*(model(n) for n in sorted(reads.models))),
        asyncio.gather(*(shape(n, provider.get_training_shape_version) for n in sorted(reads.training_shapes))),
        asyncio.gather(*(shape(n, provider.get_deployment_shape_version) for n in sorted(reads.deployment_shapes))),
    )
    found_training: dict[str, TrainingShapeVersion] = {n: v for n, v in training if v is not None}
    found_serving: dict[str, DeploymentShapeVersion] = {n: v for n, v in served if v is not None}
    return {
        "models": {n: m for n, m in models if m is not None},
        "training_shapes": found_training,
        "deployment_shapes": found_serving,
        "catalog_missing": missing,
    }


async def _probe_ids(provider: Provider, reads: Reads,
                     known: Mapping[str, TrainerJob | None]) -> dict[str, TrainerJob | None]:
    """Read each fresh trainer's candidate ids in order up to the first one no job holds."""
    found: dict[str, TrainerJob | None] = {}

    async def chain(candidates: Callable[[int], str]) -> None:
        for attempt in range(MAX_ID_PROBES):
            job_id = candidates(attempt)
            job = known[job_id] if job_id in known else await provider.get_trainer_job(job_id)
            found[job_id] = job
            if job is None:
                return

    await asyncio.gather(*(chain(c) for _, c in sorted(reads.fresh_ids.items())))
    return found


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
