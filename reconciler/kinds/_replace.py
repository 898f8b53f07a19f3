"""Replacing a trainer job, and removing the job it replaced, without ever losing track of it.

A trainer job cannot be edited in place, so a change replaces it. The replaced job's id is always in
state until the job is gone: before its removal starts it is recorded under a *deposed* address
(``Trainer/policy#deposed-<old id>``), and that record is dropped only once the platform shows the
job deleted. A DELETE that fails (or an apply killed meanwhile) leaves the record, the change fails
visibly, and the next plan finishes the removal. One mechanism, two orders:

- default (delete before create, within GPU quota): the replace change records the old job as
  deposed, deletes it, waits until it is gone, drops the record, then creates the new job. The next
  plan after an interrupted removal deletes the deposed job first; the address's create waits for it.
- ``lifecycle.createBeforeDestroy``: the replace change records the old job as deposed and creates
  the new one; the deposed job's own delete waits (plan edges) for the new job to be ready and for
  what re-points the old one's deployments.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reconciler.kinds.base import ApplyContext, PlanContext, Poll, Settings, deposed_address
from reconciler.model.address import name_of
from reconciler.model.plan import Action, FieldDiff
from reconciler.model.remote import TOMBSTONE_JOB_STATES
from reconciler.model.state import ResourceState

if TYPE_CHECKING:
    from reconciler.provider.base import Provider


def plan_replace(kind: str, ctx: PlanContext, address: str, settings: Settings, *, new_id: str, old_id: str,
                 before: dict[str, Any] | None, after: dict[str, Any], diffs: tuple[FieldDiff, ...] = (),
                 reasons: tuple[str, ...] = ()) -> None:
    """A REPLACE of ``old_id`` by ``new_id`` at ``address`` (and, for createBeforeDestroy, the separate
    delete of the old job at its deposed address)."""
    keep = bool(ctx.lifecycle_of(address).get("createBeforeDestroy"))
    deposed = deposed_address(address, old_id)
    if keep:
        order = (f"lifecycle.createBeforeDestroy: {new_id} is created first; {old_id} is deleted once "
                 f"{new_id} is ready and what it serves is re-pointed at it")
        ctx.add(deposed, kind, Action.DELETE, type(settings)(), remote_id=old_id, before=before,
                reasons=(f"replaced by {new_id} ({address}, createBeforeDestroy): deleted once that is ready "
                         "and in use",))
    else:
        order = (f"{old_id} is deleted before {new_id} is created (lifecycle.createBeforeDestroy: true keeps "
                 "it until the replacement is ready)")
    ctx.add(address, kind, Action.REPLACE,
            settings.model_copy(update={"job_name": ctx.observed.trainer_name(new_id), "keep_prior": keep,
                                        "deposed": deposed}),
            remote_id=new_id, prior_remote_id=old_id, before=before, after=after, diffs=diffs,
            replace_paths=tuple(d.path for d in diffs if d.forces_replacement), reasons=(*reasons, order))


def plan_interrupted(kind: str, ctx: PlanContext, address: str, prior: ResourceState, job_id: str,
                     settings: Settings, after: dict[str, Any]) -> None:
    """A create (or replace) an earlier apply started and did not record: finish it under its id, or,
    when its job was deleted meanwhile (the platform never reuses a deleted job's id), under the next
    generation's, ``job_id``. A job it was replacing that still runs is replaced (or, when its
    removal is on record as deposed, deleted first by that record's own change)."""
    started = prior.pending_create
    operation = prior.pending.operation if prior.pending else "create"
    if started == job_id:
        why = f"finishing an interrupted {operation} of trainer job {job_id}"
    else:
        lost = ctx.trainer_job(started)
        why = (f"trainer job {started}, whose {operation} an earlier apply started, is "
               f"{lost.state if lost else 'gone'}: a deleted job's id cannot be reused, so {job_id} is created")
    old = prior.remote_id if prior.remote_id not in (None, job_id, started) else None
    old_job = ctx.trainer_job(old)
    if old is None or old_job is None or old_job.gone:
        ctx.add(address, kind, Action.CREATE, settings, remote_id=job_id, before=prior.applied, after=after,
                reasons=(why,))
    elif deposed_address(address, old) in ctx.prior and not ctx.lifecycle_of(address).get("createBeforeDestroy"):
        # The replaced job's removal is on record: that record's own change deletes it first.
        ctx.add(address, kind, Action.CREATE, settings, remote_id=job_id, before=prior.applied, after=after,
                reasons=(why, f"created once the replaced trainer job {old} is deleted"))
    else:
        plan_replace(kind, ctx, address, settings, new_id=job_id, old_id=old, before=prior.applied, after=after,
                     reasons=(why,))


def removal_target(address: str, prior: ResourceState, ctx: PlanContext) -> str | None:
    """The job a removed address's own removal deletes: of its recorded and its pending (started)
    job, the one still live whose removal no deposed record holds, the started one first (a replace
    interrupted after the create leaves both ids; the old one is gone or deposed)."""
    ids = [i for i in (prior.pending_create, prior.remote_id) if i and deposed_address(address, i) not in ctx.prior]
    live = [i for i in ids if (job := ctx.trainer_job(i)) is not None and not job.gone]
    return live[0] if live else prior.remote_id or (prior.pending.remote_id if prior.pending else None)


def plan_deposed_removal(kind: str, address: str, origin: str, prior: ResourceState, ctx: PlanContext,
                         settings: Settings) -> None:
    """The deposed record of a job ``origin`` replaced: delete the job, unless it is gone already or
    (a record left by a replace that never started) ``origin`` still runs it."""
    job_id = prior.remote_id
    job = ctx.trainer_job(job_id)
    held = ctx.prior.get(origin)
    successor = prior.outputs.get("replaced_by")
    if held is not None and held.remote_id == job_id and not held.pending_create:
        ctx.add(address, kind, Action.FORGET, settings, remote_id=job_id,
                reasons=(f"trainer job {job_id} is still {origin}'s own job: only this record of its removal "
                         "is dropped",))
    elif job is None or job.gone:
        ctx.add(address, kind, Action.FORGET, settings, remote_id=job_id,
                reasons=(f"the job {origin} replaced, {job_id}, is already gone",))
    else:
        by = f" (replaced by {successor})" if successor else ""
        ctx.add(address, kind, Action.DELETE, settings, remote_id=job_id, before=prior.applied,
                reasons=(f"finishing the removal of replaced trainer job {job_id}{by}: its earlier delete did "
                         "not complete",))


def deposed_state(ctx: ApplyContext, address: str, job_id: str, successor: str) -> ResourceState:
    """The record of a replaced job until it is gone (deleted whatever its onDestroy)."""
    prior = ctx.recorder.get(ctx.change.address)
    return ResourceState(kind=ctx.change.kind, name=name_of(address), remote_id=job_id,
                         remote_name=prior.remote_name if prior is not None else None,
                         applied=ctx.change.before, outputs={"job_id": job_id, "replaced_by": successor},
                         lifecycle={"onDestroy": "delete"})


async def set_aside(ctx: ApplyContext, deposed: str, prior_id: str, job_id: str, *, keep: bool) -> None:
    """Before the replacement is created: record the replaced job as deposed; by default (not
    ``keep``) delete it and wait until it is gone, then drop the record. A failing delete raises and
    leaves the record for the next plan."""
    await ctx.recorder.set(deposed, deposed_state(ctx, deposed, prior_id, job_id))
    if keep:  # createBeforeDestroy: the deposed address's own change deletes it later
        return
    ctx.event("deleting", f"{prior_id} before creating {job_id}")
    await ctx.provider.delete_trainer_job(prior_id)
    await wait_job_gone(ctx, prior_id)
    await ctx.recorder.set(deposed, None)


async def wait_job_gone(ctx: ApplyContext, job_id: str) -> None:
    await job_gone(ctx.provider, ctx.poll, job_id, ctx.timeout("delete"))


async def job_gone(provider: Provider, poll: Poll, job_id: str, timeout: float) -> None:
    """Until the platform lists the job as deleted (or not at all)."""
    async def check() -> bool:
        job = await provider.get_trainer_job(job_id)
        return job is None or job.state in TOMBSTONE_JOB_STATES

    await poll.until(check, timeout=timeout, what=f"trainer job {job_id} to be deleted")


__all__ = ["deposed_state", "job_gone", "plan_deposed_removal", "plan_interrupted", "plan_replace", "removal_target",
           "set_aside", "wait_job_gone"]
