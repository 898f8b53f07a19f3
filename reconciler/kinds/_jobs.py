"""What Trainer and ReferenceTrainer share: both are RLOR trainer jobs on the platform.

Trainer jobs cannot be edited in place: every compared field forces replacement. Job ids are
chosen client-side, ``<stack>-<name>-<6 hex>``, so every plan of the same state names the same jobs,
apply creates exactly those, and a retried create finds its job:

- a stack with state: the hex is derived from the state's lineage, the name and the state's serial
  (a replacement takes the next serial's), so ids never repeat across lineages;
- a stack with no state yet: from the stack and the name alone, the first of a chain of candidates
  (attempt 0, 1, ...) whose job is not a tombstone: the platform never reuses a deleted job's id,
  and refresh reads the chain (``Reads.fresh_ids``) up to its first unused id.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from reconciler.diff import FieldRule, FieldTable
from reconciler.kinds._job_states import final_failure, final_reason, settled, settling_reason
from reconciler.kinds._replace import (
    plan_deposed_removal,
    plan_interrupted,
    plan_replace,
    removal_target,
    set_aside,
    wait_job_gone,
)
from reconciler.kinds.base import (
    ApplyContext,
    ChangeFailed,
    ImportRefused,
    Kind,
    Known,
    PlanContext,
    Reads,
    Settings,
    deposed_address,
    deposed_from,
    settings_of,
)
from reconciler.model.address import name_of
from reconciler.model.health import Health, ResourceHealth
from reconciler.model.ownership import DISPLAY_PREFIX, RETAINED_ANNOTATION
from reconciler.model.plan import Action
from reconciler.model.remote import (
    JOB_PAUSED,
    Observed,
    TrainerConfig,
    TrainerJob,
)
from reconciler.model.state import ResourceState, ResourceStatus, RetainedResource
from reconciler.model.variables import remote_name

if TYPE_CHECKING:
    from reconciler.provider.base import Provider

# echoed=False: a create accepts it, a read never shows it (the public ``ReinforcementFineTuningStep`` /
# ``TrainingConfig`` types have no such field; ``trainingShape`` is a create query parameter): compared
# with the value state recorded as last applied.
TRAINER_FIELDS = FieldTable(
    FieldRule("base_model", "baseModel"),
    FieldRule("lora_rank", "loraRank"),
    FieldRule("learning_rate", "learningRate"),
    FieldRule("training_shape", "trainingShape", versioned=True, echoed=False),
    FieldRule("accelerator_type", "accelerator.type", echoed=False),
    FieldRule("accelerator_count", "accelerator.count", echoed=False),
    FieldRule("node_count", "nodeCount"),
    FieldRule("max_context_length", "maxContextLength"),
    FieldRule("replica_count", "replicaCount", echoed=False),
    FieldRule("region", "region"),
    FieldRule("display_name", "displayName"),
    FieldRule("inactivity_timeout", "inactivityTimeout", echoed=False),
    FieldRule("forward_only", "forwardOnly"),
    FieldRule("hot_load_deployment_id", "hotLoadDeploymentId"),
)



def trainer_view(config: TrainerConfig) -> dict[str, Any]:
    return TRAINER_FIELDS.view(config)


def observed_trainer_view(job: TrainerJob, prior: ResourceState | None) -> dict[str, Any]:
    """What ``job`` has, by manifest path: read from the platform, and for the fields it does not
    return, the values state last applied to this same job (none for a job fwctl did not create)."""
    recorded = prior.applied if prior is not None and prior.remote_id == job.job_id else None
    return TRAINER_FIELDS.observed(job.config, recorded)


def unverified_reason(paths: Iterable[str]) -> tuple[str, ...]:
    """The plan's note on declared fields fwctl cannot check on the platform."""
    paths = tuple(paths)
    if not paths:
        return ()
    return (f"not verified: the platform does not return {', '.join(paths)}, and fwctl did not apply "
            "them to this resource; they are assumed to be as declared",)


def job_id_for(stack: str, name: str, seed: str, generation: int) -> str:
    """``<stack>-<name>-<6 hex>``: the hex from the seed (the state's lineage; the stack when there is
    no state yet), the name and the generation (the state's serial, or the attempt of a fresh chain)."""
    suffix = hashlib.sha256(f"{seed or stack}:{name}:{generation}".encode()).hexdigest()[:6]
    return f"{stack}-{remote_name(name)}-{suffix}"  # name[key] (for-each): stable per key


def fresh_job_ids(stack: str, name: str) -> Callable[[int], str]:
    """The candidate ids, by attempt, of a trainer of a stack that has no state yet."""
    return lambda attempt: job_id_for(stack, name, "", attempt)


def first_unused(candidates: Callable[[int], str], trainers: Mapping[str, TrainerJob | None], *,
                 live_ok: bool, skip: str | None = None) -> str:
    """The first candidate no job holds (one the refresh did not read counts as unused); with
    ``live_ok`` also the first one a live (not deleted) job holds: it is adopted."""
    attempt = 0
    while True:
        candidate = candidates(attempt)
        job = trainers.get(candidate)
        if candidate != skip and (job is None or (live_ok and not job.gone)):
            return candidate
        attempt += 1


def display_name(stack: str, name: str) -> str:
    return f"{DISPLAY_PREFIX}{stack}/{name}"[:63]


def marked_stack(display: str | None) -> str | None:
    """The stack a ``fwctl:<stack>/<name>`` display name marks a resource as managed by."""
    display = display or ""
    return display[len(DISPLAY_PREFIX):].split("/")[0] if display.startswith(DISPLAY_PREFIX) else None


def owner_of(job: TrainerJob) -> str | None:
    """The stack a trainer job's display name marks it as managed by."""
    return marked_stack(job.config.display_name)


def trainer_is_ours(job: TrainerJob, stack: str, names: frozenset[str] | None = None) -> bool:
    """Marked as this stack's: by its display name, else (a display name of its own) by its job id,
    ``<stack>-<name>-<6 hex>`` with one of ``names`` (any name when None). Another stack's display
    name wins, and ``names`` keeps stack ``a`` from claiming stack ``a-b``'s ``a-b-policy-0a1b2c``."""
    owner = owner_of(job)
    if owner is not None:
        return owner == stack
    match = re.fullmatch(rf"{re.escape(stack)}-([a-z0-9-]+)-[0-9a-f]{{6}}", job.job_id)
    return match is not None and (names is None or match.group(1) in names)


class JobSettings(Settings):
    config: TrainerConfig | None = None
    job_name: str | None = None
    shared_with: str | None = None  # a ReferenceTrainer that is a shared session on this policy
    keep_prior: bool = False  # a createBeforeDestroy replace: the prior job stays until its successor is used
    deposed: str | None = None  # a replace: where the prior job is recorded until it is gone
    retain: bool = False  # forget (onDestroy: retain): the state records the job as retained


class JobKind(Kind):
    """The trainer-job mechanics of Trainer and ReferenceTrainer."""

    holds: ClassVar[str | None] = "trainer"
    default_timeout: ClassVar[float] = 3600.0
    importable: ClassVar[bool] = True

    # --- planning ---------------------------------------------------------------------------

    def job_id(self, address: str, name: str, explicit: str | None, ctx: PlanContext) -> str:
        if explicit:
            return explicit
        prior = ctx.prior.get(address)
        if prior is not None:
            pending = prior.pending.remote_id if prior.pending else None
            if pending:
                job = ctx.trainer_job(pending)
                if job is None or not job.gone:  # not created yet, or created: finished under that id
                    return pending
                # deleted meanwhile (the platform never reuses a deleted job's id): the next generation's
                return self.replacement_id(name, pending, ctx)
            if prior.remote_id:
                job = ctx.trainer_job(prior.remote_id)
                if job is not None and not job.gone:
                    return prior.remote_id
        if not ctx.id_seed:  # no state yet: from the stack and the name, past any deleted job's id
            return first_unused(fresh_job_ids(ctx.stack, name), ctx.observed.trainers, live_ok=True)
        job_id = job_id_for(ctx.stack, name, ctx.id_seed, ctx.generation)
        if prior is not None and prior.remote_id == job_id:  # a tombstone cannot be reused
            job_id = job_id_for(ctx.stack, name, ctx.id_seed, ctx.generation + 1)
        return job_id

    def replacement_id(self, name: str, current: str, ctx: PlanContext) -> str:
        """The id of the job that replaces ``current``: the next generation's (never ``current``)."""
        if not ctx.id_seed:
            return first_unused(fresh_job_ids(ctx.stack, name), ctx.observed.trainers, live_ok=False, skip=current)
        new_id = job_id_for(ctx.stack, name, ctx.id_seed, ctx.generation + 1)
        return new_id if new_id != current else job_id_for(ctx.stack, name, ctx.id_seed, ctx.generation + 2)

    def add_fresh_id_reads(self, address: str, name: str, known: Known, reads: Reads) -> None:
        """A stack with no state yet: have refresh read the candidate ids of ``address``."""
        if known.state is None:
            reads.fresh_ids[address] = fresh_job_ids(known.stack, name)

    def plan_job(self, ctx: PlanContext, address: str, config: TrainerConfig, job_id: str, explicit: bool,
                 ignore: Iterable[str], settings: JobSettings) -> None:
        kind = self.name
        prior = ctx.prior.get(address)
        after = trainer_view(config)
        settings = settings.model_copy(update={"job_name": ctx.observed.trainer_name(job_id), "config": config})
        job = ctx.trainer_job(job_id)
        started = prior.pending_create if prior is not None else None
        if prior is not None and started and (started == job_id or not explicit):
            plan_interrupted(kind, ctx, address, prior, job_id, settings, after)
            return
        if job is None or job.gone:
            if explicit and job is not None:
                ctx.error(address, "spec.jobId", f"trainer job {job_id} is {job.state} and cannot be reused; "
                          "remove spec.jobId or name another job")
                return
            reasons: tuple[str, ...] = ()
            if prior is not None and prior.remote_id:
                state = job.state if job is not None else "not found"
                reasons = (f"trainer job {prior.remote_id} was deleted out of band ({state}); a new one is created",)
            elif explicit:
                reasons = (f"job {job_id} does not exist yet: it is created with that id",)
            ctx.add(address, kind, Action.CREATE, settings, remote_id=job_id, after=after, reasons=reasons)
            return

        before = observed_trainer_view(job, prior)
        diffs = TRAINER_FIELDS.diffs(after, before, ignore=ignore)
        unverified = unverified_reason(TRAINER_FIELDS.unverified(after, before, ignore=ignore))
        adopting = prior is None or prior.remote_id != job_id
        forced = address in ctx.replace
        if job.final and explicit:
            ctx.error(address, "spec.jobId", f"{final_reason(job)}: remove spec.jobId to let fwctl replace it")
            return
        if (diffs or forced) and explicit:
            for d in diffs:
                ctx.error(address, f"spec.{d.path}",
                          f"differs from adopted trainer job {job_id} ({d.before!r} there, {d.after!r} here); "
                          "trainer jobs cannot be edited in place: remove spec.jobId to let fwctl replace it")
            if forced and not diffs:
                ctx.error(address, "spec.jobId", f"names the adopted trainer job {job_id}, which --replace would "
                          "delete; remove spec.jobId to let fwctl replace it")
            return
        if diffs or forced or job.final:
            new_id = self.replacement_id(name_of(address), job_id, ctx)
            ctx.ids[address] = new_id
            reasons = ("trainer jobs cannot be edited in place",) if diffs else ("forced by --replace",) if forced \
                else ()
            plan_replace(kind, ctx, address, settings, new_id=new_id, old_id=job_id, before=before, after=after,
                         diffs=diffs, reasons=(*reasons, *((final_reason(job),) if job.final else ())))
            return
        if adopting:
            ctx.add(address, kind, Action.REATTACH, settings, remote_id=job_id, before=before, after=after,
                    reasons=(f"adopting existing trainer job {job_id} ({job.state})", *unverified))
            return
        if job.settling:
            action = Action.RESUME if job.state == "JOB_STATE_CANCELLING" else Action.NOOP
            ctx.add(address, kind, action, settings, remote_id=job_id, before=before, after=after,
                    reasons=(settling_reason(job), *unverified))
            return
        if job.resumable:
            why = f": {job.status_message}" if job.status_message else ""
            ctx.add(address, kind, Action.RESUME, settings, remote_id=job_id, before=before, after=after,
                    reasons=(f"trainer job {job_id} is {job.state}{why}", *unverified))
            return
        ctx.add(address, kind, Action.NOOP, settings, remote_id=job_id, before=before, after=after,
                reasons=unverified)

    def plan_removal(self, address: str, prior: ResourceState, ctx: PlanContext) -> None:
        why = "removed from the manifests" if not ctx.destroy else "destroy"
        settings = JobSettings(destroy=ctx.destroy)
        job_id = removal_target(address, prior, ctx)
        origin = deposed_from(address)
        if origin is not None:  # a replaced job whose removal did not complete
            plan_deposed_removal(self.name, address, origin, prior, ctx, settings)
        elif not job_id:
            ctx.add(address, self.name, Action.FORGET, settings, reasons=(f"{why}; no remote resource",))
        elif ctx.lifecycle_of(address).get("onDestroy") == "retain":
            ctx.add(address, self.name, Action.FORGET, settings.model_copy(update={"retain": True}),
                    remote_id=job_id, before=prior.applied,
                    reasons=(f"{why}; onDestroy: retain keeps trainer job {job_id} running, recorded in the state "
                             f"as {RETAINED_ANNOTATION} (fwctl orphans leaves it alone)",))
        else:
            job = ctx.trainer_job(job_id)
            if job is None or job.gone:
                ctx.add(address, self.name, Action.FORGET, settings, remote_id=job_id,
                        before=prior.applied, reasons=(f"{why}; trainer job {job_id} is already gone",))
            else:
                ctx.add(address, self.name, Action.DELETE, settings, remote_id=job_id,
                        before=prior.applied, reasons=(f"{why}; onDestroy: delete",))

    # --- applying ---------------------------------------------------------------------------

    async def forget(self, ctx: ApplyContext) -> None:
        """A retained job cannot be re-marked on the platform (trainer jobs have no update): the state
        keeps a ``retained`` record of it instead, which ``fwctl orphans`` consults."""
        if settings_of(ctx.change, JobSettings).retain:
            await ctx.recorder.set(ctx.change.address, None,
                                   retained=RetainedResource(kind="trainer", address=ctx.change.address,
                                                             why="onDestroy: retain"))
            return
        await super().forget(ctx)

    async def apply(self, ctx: ApplyContext) -> None:
        change = ctx.change
        action = change.action
        settings = settings_of(change, JobSettings)
        job_id = change.remote_id
        provider = ctx.provider
        if action is Action.DELETE:
            if job_id:
                await ctx.pending("delete", job_id)
                await provider.delete_trainer_job(job_id)
                ctx.mark_created()
                await wait_job_gone(ctx, job_id)
            if settings.shared_with:  # became a shared session: keep the address, nothing remote
                await ctx.recorder.set(change.address, shared_state(ctx, settings))
            else:
                await ctx.recorder.set(change.address, None)
            return
        recorded = ctx.recorder.get(change.address)
        if action is Action.UPDATE and recorded is not None:  # lifecycle or labels only: nothing remote
            await ctx.recorder.set(change.address, recorded.model_copy(update={
                "lifecycle": dict(settings.lifecycle), "labels": dict(settings.labels)}))
            ctx.mark_created()
            ctx.mark_ready()
            return
        if job_id is None:  # a shared-session reference: nothing remote
            await ctx.recorder.set(change.address, shared_state(ctx, settings))
            ctx.mark_created()
            return
        config = settings.config
        assert config is not None
        prior_id = change.prior_remote_id if action is Action.REPLACE and change.prior_remote_id != job_id else None
        if action in (Action.CREATE, Action.REPLACE):
            await ctx.pending(action.value, job_id)
            if prior_id:  # on record as deposed until gone; by default deleted now (GPU quota; serving pauses)
                await set_aside(ctx, settings.deposed or deposed_address(change.address, prior_id), prior_id, job_id,
                                keep=settings.keep_prior)
            await provider.create_trainer_job(job_id, config)
            ctx.mark_created()
            ctx.event("created", job_id)
        elif action is Action.RESUME:
            ctx.mark_created()
            settled_job = await settled(ctx, job_id)  # a CANCELLING job: once it is CANCELLED
            if settled_job is not None and settled_job.resumable:  # else RUNNING by itself, or gone
                await provider.resume_trainer_job(job_id)
        elif action is Action.REATTACH:
            ctx.mark_created()
            job = await provider.get_trainer_job(job_id)
            if job is not None and job.resumable:
                await provider.resume_trainer_job(job_id)
        job = await wait_job_ready(ctx, job_id, config)
        await ctx.recorder.set(change.address, await job_state(ctx, job))
        ctx.mark_ready()

    # --- reading back -----------------------------------------------------------------------

    def drift(self, address: str, held: ResourceState,
              observed: Observed) -> tuple[list[str], ResourceState | None]:
        if not held.remote_id:
            return [], held
        job = observed.trainers.get(held.remote_id)
        if job is None or job.gone:
            return [f"trainer job {held.remote_id} is gone ({job.state if job else 'not found'}); "
                    "dropped from state"], None
        view = observed_trainer_view(job, held)
        changes = TRAINER_FIELDS.drifted(held.applied, view)
        if job.state != held.outputs.get("state"):
            changes.append(f"state: {held.outputs.get('state')} -> {job.state}"
                           + (f" ({job.status_message})" if job.status_message else ""))
        return changes, refreshed(held, view, {**held.outputs, "state": job.state})

    def job_health(self, address: str, job_id: str | None, observed: Observed,
                   probes: Mapping[str, str | None]) -> ResourceHealth:
        kind = self.name
        if job_id is None:
            return ResourceHealth(address, kind, Health.MISSING, "no trainer job yet (run fwctl apply)")
        job = observed.trainers.get(job_id)
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
        if job.state == JOB_PAUSED:
            return ResourceHealth(address, kind, Health.SUSPENDED, f"trainer job {job_id} is {short}{message}",
                                  job_id)
        if job.resumable or job.final:
            fix = "replaces" if job.final else "resumes"
            return ResourceHealth(address, kind, Health.DEGRADED,
                                  f"trainer job {job_id} is {short}{message} (fwctl apply {fix} it)", job_id)
        return ResourceHealth(address, kind, Health.PROGRESSING, f"trainer job {job_id} is {short}{message}", job_id)

    # --- import and orphans -----------------------------------------------------------------

    async def read_for_import(self, provider: Provider, remote_id: str) -> TrainerJob | None:
        return await provider.get_trainer_job(remote_id)

    def import_record(self, address: str, res: Any, remote: TrainerJob, stack: str) -> ResourceState:
        if remote.gone:
            raise ImportRefused(f"{address}: trainer job {remote.job_id} is {remote.state} and cannot be imported")
        owner = owner_of(remote)
        if owner and owner != stack:
            raise ImportRefused(f"{remote.job_id} is managed by stack {owner!r}, not {stack!r}; "
                                "refusing to import it")
        declared = getattr(res.spec, "base_model", None)
        if declared and remote.config.base_model != declared:
            raise ImportRefused(f"{address}: {remote.job_id} serves {remote.config.base_model}, the manifest "
                                f"declares {declared}; refusing to import a different model")
        return imported_record(address, res, remote.job_id, remote.name, TRAINER_FIELDS.readable(remote.config),
                               remote.state)


def imported_record(address: str, res: Any, remote_id: str, remote_name: str, view: dict[str, Any],
                    state: str) -> ResourceState:
    lifecycle = getattr(res.spec, "lifecycle", None)
    return ResourceState(kind=res.kind, name=name_of(address), remote_id=remote_id,
                         remote_name=remote_name, applied=view,
                         lifecycle=lifecycle.model_dump(by_alias=True, mode="json") if lifecycle else {},
                         labels=dict(res.metadata.labels), outputs={"state": state, "imported": True})


def refreshed(res: ResourceState, view: dict[str, Any], outputs: dict[str, Any]) -> ResourceState:
    applied = {k: view.get(k, v) for k, v in (res.applied or {}).items()} if res.applied else res.applied
    return res.model_copy(update={"applied": applied, "outputs": outputs})


def shared_state(ctx: ApplyContext, settings: JobSettings) -> ResourceState:
    return ctx.base_state(None, None).model_copy(update={
        "outputs": {"shared_with": settings.shared_with}, "pending": None, "status": ResourceStatus.CREATED})


async def job_state(ctx: ApplyContext, job: TrainerJob) -> ResourceState:
    outputs = {
        "job_id": job.job_id,
        "job_name": job.name,
        "gateway_url": await ctx.provider.trainer_gateway_url(job.job_id),
        "base_model": job.config.base_model,
        "state": job.state,
        "forward_only": job.config.forward_only,
    }
    return ctx.base_state(job.job_id, job.name).model_copy(update={
        "outputs": outputs, "pending": None, "status": ResourceStatus.CREATED})


async def wait_job_ready(ctx: ApplyContext, job_id: str, config: TrainerConfig) -> TrainerJob:
    """RUNNING and its gateway healthy; a job preempted while booting is resumed (twice at most)."""
    latest: dict[str, TrainerJob] = {}
    resumes = 0
    last_state = ""

    async def check() -> bool:
        nonlocal resumes, last_state
        job = await ctx.provider.get_trainer_job(job_id)
        if job is None or job.gone:
            raise ChangeFailed(f"trainer job {job_id} disappeared ({job.state if job else 'not found'})")
        latest["job"] = job
        if job.final:
            raise final_failure(job)
        if job.state != last_state:
            last_state = job.state
            ctx.event(job.state.removeprefix("JOB_STATE_"))
        if job.resumable:
            if resumes >= 2:
                why = f": {job.status_message}" if job.status_message else ""
                raise ChangeFailed(f"trainer job {job_id} is {job.state}{why}")
            resumes += 1
            ctx.event("resuming", job.status_message or job.state)
            await ctx.provider.resume_trainer_job(job_id)
            return False
        return job.running and await ctx.provider.trainer_healthy(job_id)

    await ctx.poll.until(check, timeout=ctx.timeout(), what=f"trainer job {job_id} to be RUNNING")
    if ctx.health_probe is not None and (ran := await ctx.health_probe(job_id, config)):
        ctx.event("healthy", ran)  # which probe ran (``reconciler.health``)
    return latest["job"]


__all__ = ["TRAINER_FIELDS", "JobKind", "JobSettings", "job_id_for", "trainer_view"]
