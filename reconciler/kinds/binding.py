"""SyncBinding: the weight-sync wiring trainer -> deployment.

perTrainer scope (the default): the deployment's ``hotLoadTrainerJob`` names the trainer job; the
trainer exists first. perDeployment scope (legacy): the trainer is created with the deployment's id,
so the deployment exists first. The binding owns the attachment and, when bound, the transition
type; a pinned snapshot is hot-loaded and verified. Its state record's remote id is the deployment's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

from reconciler.kinds._deployment_ready import idle_at_zero, serves_while_creating, serving, wake
from reconciler.kinds._snapshot_pins import pin_problem, resolve_pin
from reconciler.kinds.base import (
    ApplyContext,
    ChangeFailed,
    Kind,
    Known,
    PlanContext,
    Reads,
    Settings,
    declared_settings,
    settings_of,
)
from reconciler.kinds.deployment import ATTACHMENT, wait_ready
from reconciler.model.health import Health, ResourceHealth
from reconciler.model.plan import Action, Change, FieldDiff
from reconciler.model.remote import Observed
from reconciler.model.resources import Deployment, SyncBinding, Trainer
from reconciler.model.state import ResourceState

FRESH = frozenset({Action.CREATE, Action.REPLACE})


class BindingSettings(Settings):
    job_id: str | None = None
    job_name: str | None = None
    deployment_id: str | None = None
    trainer_address: str | None = None
    deployment_address: str | None = None
    base_model: str | None = None
    full_load: bool = False
    scope: str = "perTrainer"


class SyncBindingKind(Kind):
    name: ClassVar[str] = "SyncBinding"
    model = SyncBinding
    phase: ClassVar[int] = 2
    order: ClassVar[int] = 3
    default_timeout: ClassVar[float] = 900.0

    # --- refresh ----------------------------------------------------------------------------

    def later_reads(self, res: SyncBinding, known: Known, observed: Observed, reads: Reads) -> None:
        job_id = known.remote_id(f"Trainer/{res.spec.trainer}")
        if res.spec.snapshot and job_id and observed.trainers.get(job_id) is not None:
            reads.checkpoints.add(job_id)
        dep_res = known.resources.get(f"Deployment/{res.spec.deployment}")
        dep_id = known.remote_id(f"Deployment/{res.spec.deployment}")
        dep = observed.deployments.get(dep_id) if dep_id else None
        # replicas serve: READY, or CREATING with serving replicas (a hot-load deployment that stays CREATING)
        if isinstance(dep_res, Deployment) and dep_id and dep is not None and not dep.bad and dep.replica_count > 0:
            reads.hot_load[dep_id] = dep_res.spec.base_model

    # --- planning ---------------------------------------------------------------------------

    def created_only_edges(self, res: SyncBinding, ctx: PlanContext) -> Iterable[tuple[str, str]]:
        """A deployment created for a perTrainer binding is created attached to its trainer as soon as
        the trainer job exists (one pod roll fewer than attaching later)."""
        trainer, dep = f"Trainer/{res.spec.trainer}", f"Deployment/{res.spec.deployment}"
        if res.spec.scope == "perDeployment":
            yield trainer, dep
            return
        dep_change, trainer_change = ctx.changes.get(dep), ctx.changes.get(trainer)
        if (dep_change is not None and dep_change.action in FRESH
                and trainer_change is not None and trainer_change.action in FRESH):
            yield dep, trainer

    def plan(self, res: SyncBinding, ctx: PlanContext) -> None:
        address = res.address
        kind = self.name
        spec = res.spec
        trainer_addr = f"Trainer/{spec.trainer}"
        dep_addr = f"Deployment/{spec.deployment}"
        job_id = ctx.ids.get(trainer_addr)
        dep_id = ctx.ids.get(dep_addr)
        assert job_id is not None and dep_id is not None
        deployment = ctx.resources.get(dep_addr)
        assert isinstance(deployment, Deployment)
        transition = spec.transition or deployment.spec.hot_load.transition
        trainer = ctx.resources.get(trainer_addr)
        if isinstance(trainer, Trainer) and trainer.spec.base_model != deployment.spec.base_model:
            ctx.error(address, "spec.trainer",
                      f"{trainer_addr} trains {trainer.spec.base_model} but {dep_addr} serves "
                      f"{deployment.spec.base_model}: a deployment can only hot-load its own base model")
            return
        job_name = ctx.observed.trainer_name(job_id)
        after: dict[str, Any] = {"scope": spec.scope, "trainer": job_name, "deployment": dep_id,
                                 "transition": transition, "snapshot": spec.snapshot}
        settings = BindingSettings(
            **declared_settings(res), job_id=job_id, job_name=job_name, deployment_id=dep_id,
            trainer_address=trainer_addr, deployment_address=dep_addr, base_model=deployment.spec.base_model,
            full_load=(trainer.spec.lora_rank if isinstance(trainer, Trainer) else 0) == 0, scope=spec.scope)
        dep = ctx.deployment(dep_id)
        trainer_change = ctx.changes.get(trainer_addr)
        dep_change = ctx.changes.get(dep_addr)
        prior = ctx.prior.get(address)
        status = ctx.observed.hot_load.get(dep_id)
        served = status.current_snapshot if status is not None else None
        observed_trainer = dep.config.hot_load_trainer_job if dep is not None else None
        observed_transition = dep.config.hot_load_transition if dep is not None else None
        if spec.scope == "perDeployment":
            job = ctx.trainer_job(job_id)
            observed_trainer = job_name if job and job.config.hot_load_deployment_id == dep_id else None
        before: dict[str, Any] | None = None
        if prior is not None:
            before = {"scope": spec.scope, "trainer": observed_trainer, "deployment": dep_id,
                      "transition": observed_transition, "snapshot": served}
        pinned_identity = spec.snapshot  # a step name resolves to the newest snapshot of that name
        if spec.snapshot:
            pinned_identity = self.check_snapshot(res, job_id, trainer_change, ctx) or spec.snapshot
            after["snapshot"] = pinned_identity

        if prior is None:
            ctx.add(address, kind, Action.CREATE, settings, remote_id=dep_id, after=after,
                    reasons=(f"attach {dep_addr} to {trainer_addr} ({spec.scope})",))
            return
        reasons: list[str] = []
        diffs: list[FieldDiff] = []
        if trainer_change and trainer_change.action in (FRESH | {Action.RESUME}):
            verb = {"replace": "replaced", "resume": "resumed", "create": "re-created"}[trainer_change.action.value]
            reasons.append(f"{trainer_addr} is {verb}: {dep_addr} is re-pointed at {job_name}")
            old = trainer_change.prior_remote_id
            if trainer_change.action is Action.REPLACE and old and dep is not None:
                if ctx.lifecycle_of(trainer_addr).get("createBeforeDestroy"):
                    reasons.append(f"no pause: {dep_addr} keeps serving from {old} until {job_name} is ready; "
                                   f"{old} is deleted after the re-point")
                else:
                    reasons.append(f"serving pauses: {old} is deleted before its replacement is created, and "
                                   f"{dep_addr} is re-pointed only once that is ready (lifecycle.createBeforeDestroy: "
                                   f"true on {trainer_addr} avoids the pause)")
        elif dep_change and dep_change.action in FRESH:
            reasons.append(f"{dep_addr} is re-created: it is attached to {job_name} again")
        if observed_trainer != job_name:
            diffs.append(FieldDiff(path="trainer", before=observed_trainer, after=job_name))
            if not reasons:
                reasons.append(f"{dep_addr} serves {observed_trainer or 'no trainer'}, not {job_name}")
        if spec.scope == "perTrainer" and transition and (observed_transition or "ASYNC") != transition:
            diffs.append(FieldDiff(path="transition", before=observed_transition, after=transition))
            reasons.append(f"transition type {observed_transition or 'ASYNC'} -> {transition}")
        if address in ctx.replace and not reasons:
            reasons.append(f"forced by --replace: {dep_addr} is attached to {job_name} again")
        reattach = bool(reasons or diffs)
        pinned = prior.outputs.get("snapshot")
        if pinned and not spec.snapshot:  # the deployment keeps what it serves; the state drops the pin
            diffs.append(FieldDiff(path="snapshot", before=pinned, after=None))
            reasons.append(f"the pin is removed: {dep_addr} keeps serving {served or pinned} (nothing is "
                           "reloaded); the state stops recording the pin")
        if reasons or diffs:  # an unpin alone is recorded in the state only
            ctx.add(address, kind, Action.REATTACH if reattach else Action.UPDATE, settings, remote_id=dep_id,
                    before=before, after=after, diffs=tuple(diffs), reasons=tuple(reasons))
            return
        if pinned_identity and served != pinned_identity and dep is not None and idle_at_zero(dep):
            ctx.add(address, kind, Action.NOOP, settings, remote_id=dep_id, before=before, after=after,
                    reasons=(f"{dep_addr} is scaled to zero while idle (min 0): pinned {pinned_identity} is loaded "
                             "again once it serves (the next apply after it wakes)",))
            return
        if pinned_identity and served != pinned_identity:
            ctx.add(address, kind, Action.HOTLOAD, settings, remote_id=dep_id, before=before, after=after,
                    diffs=(FieldDiff(path="snapshot", before=served, after=pinned_identity),),
                    reasons=(f"hotload {served or 'nothing'} -> {pinned_identity}",))
            return
        ctx.add(address, kind, Action.NOOP, settings, remote_id=dep_id, before=before, after=after)

    @staticmethod
    def check_snapshot(res: SyncBinding, job_id: str, trainer_change: Change | None,
                       ctx: PlanContext) -> str | None:
        """The identity the pin names (``_snapshot_pins``); None, with a located error, when it cannot be served."""
        if trainer_change is not None and trainer_change.action in FRESH:
            ctx.error(res.address, "spec.snapshot",
                      f"snapshot {res.spec.snapshot!r} cannot be served yet: Trainer/{res.spec.trainer} is "
                      f"being {'created' if trainer_change.action is Action.CREATE else 'replaced'}, so its "
                      "job has no snapshots; apply without the pin first")
            return None
        identity, problem = pin_problem(str(res.spec.snapshot), job_id, ctx.observed.checkpoints.get(job_id, ()))
        if problem:
            ctx.error(res.address, "spec.snapshot", problem)
        return identity

    def plan_removal(self, address: str, prior: ResourceState, ctx: PlanContext) -> None:
        kind = self.name
        why = "removed from the manifests" if not ctx.destroy else "destroy"
        settings = BindingSettings(destroy=ctx.destroy)
        dep_id = prior.remote_id
        dep = ctx.deployment(dep_id)
        dep_address = str(prior.outputs.get("deployment_address", ""))
        dep_change = ctx.changes.get(dep_address)
        if dep is None or (dep_change is not None and dep_change.action is Action.DELETE):
            ctx.add(address, kind, Action.FORGET, settings, remote_id=dep_id,
                    reasons=(f"{why}; its deployment is gone or deleted",))
        elif dep_change is not None and dep_change.action is Action.SCALE_TO_ZERO:
            # One PATCH, one pod roll: the deployment is detached as it is scaled to zero.
            ctx.changes[dep_address] = dep_change.model_copy(update={
                "settings": {**dep_change.settings, "detach": True},
                "reasons": (*dep_change.reasons, "detached from its trainer in the same update")})
            ctx.add(address, kind, Action.FORGET, settings, remote_id=dep_id,
                    reasons=(f"{why}; {dep_address} is detached as it is scaled to zero",))
        else:
            ctx.add(address, kind, Action.DELETE,
                    settings.model_copy(update={"scope": prior.outputs.get("scope", "perTrainer"),
                                                "deployment_address": dep_address or None}),
                    remote_id=dep_id, before=prior.applied,
                    reasons=(f"{why}: deployment {dep_id} is detached from its trainer",))

    # --- applying ---------------------------------------------------------------------------

    async def apply(self, ctx: ApplyContext) -> None:
        change = ctx.change
        settings = settings_of(change, BindingSettings)
        dep_id = change.remote_id
        provider = ctx.provider
        assert dep_id is not None
        dep_address = settings.deployment_address or ""
        if change.action is Action.DELETE:
            if settings.scope == "perTrainer":
                await provider.update_deployment(dep_id, {ATTACHMENT: None})
                ctx.mark_created()
                await wait_ready(ctx, dep_id)
            if not dep_address:
                prior = ctx.recorder.get(change.address)
                dep_address = str(prior.outputs.get("deployment_address", "")) if prior else ""
            await ctx.recorder.set(change.address, None)
            await note_on_deployment(ctx, dep_address, None, None)
            return
        after = change.after or {}
        job_name = str(settings.job_name)
        scope = after.get("scope", "perTrainer")
        transition = after.get("transition")
        if change.action in (Action.CREATE, Action.REATTACH) and scope == "perTrainer":
            dep = await wait_ready(ctx, dep_id)
            updates: dict[str, Any] = {}
            # A reattach always re-points (the serving pod rolls onto the new or resumed trainer);
            # the transition type goes in the same PATCH: one roll, not two.
            if change.action is Action.REATTACH or dep.config.hot_load_trainer_job != job_name:
                updates[ATTACHMENT] = job_name
            if transition and (dep.config.hot_load_transition or "ASYNC") != transition:
                updates["hot_load_transition"] = transition
            if updates:
                ctx.event("patching", ", ".join(sorted(updates)))
                await provider.update_deployment(dep_id, updates)
            await wait_attached(ctx, dep_id, job_name, transition)
        elif scope == "perDeployment":
            job = await provider.get_trainer_job(str(settings.job_id))
            if job is None or job.config.hot_load_deployment_id != dep_id:
                raise ChangeFailed(f"trainer job {settings.job_id} is not created for deployment {dep_id} "
                                   "(perDeployment scope); it must be replaced")
        snapshot = after.get("snapshot")
        loaded_at = None
        prior = ctx.recorder.get(change.address)
        if prior is not None and prior.outputs.get("snapshot") == snapshot:
            loaded_at = prior.outputs.get("snapshot_loaded_at")
        if snapshot and change.action in (Action.HOTLOAD, Action.CREATE, Action.REATTACH):
            await hot_load(ctx, dep_id, str(settings.base_model), str(snapshot))
            loaded_at = datetime.now(UTC).isoformat(timespec="seconds")
        outputs = {
            "scope": scope,
            "trainer": job_name,
            "trainer_address": settings.trainer_address,
            "deployment_id": dep_id,
            "deployment_address": settings.deployment_address,
            "transition": transition,
            "snapshot": snapshot,
            "snapshot_loaded_at": loaded_at,
        }
        await ctx.recorder.set(change.address, ctx.base_state(dep_id, None).model_copy(
            update={"outputs": outputs, "pending": None}))
        await note_on_deployment(ctx, dep_address, job_name, (snapshot, loaded_at))

    # --- reading back -----------------------------------------------------------------------

    def health(self, address: str, res: SyncBinding | None, known: Known, observed: Observed,
               probes: Mapping[str, str | None], results: Mapping[str, ResourceHealth]) -> ResourceHealth:
        kind = self.name
        if res is None:
            return ResourceHealth(address, kind, Health.MISSING,
                                  "in state but no longer declared (run fwctl apply to detach)")
        spec = res.spec
        trainer_health = results.get(f"Trainer/{spec.trainer}")
        dep_health = results.get(f"Deployment/{spec.deployment}")
        job_id = trainer_health.remote_id if trainer_health else None
        dep_id = dep_health.remote_id if dep_health else None
        dep = observed.deployments.get(dep_id) if dep_id else None
        job = observed.trainers.get(job_id) if job_id else None
        if dep is None or dep.gone:
            return ResourceHealth(address, kind, Health.MISSING,
                                  f"deployment {dep_id or spec.deployment} does not exist", dep_id)
        if job is None or job.gone:
            return ResourceHealth(address, kind, Health.MISSING, f"trainer Trainer/{spec.trainer} has no live job",
                                  dep_id)
        # A binding is no healthier than what it wires: Degraded or Suspended as its trainer or
        # deployment is, Progressing (not Degraded) while either is still being created or rolled.
        ends = ((f"Trainer/{spec.trainer}", trainer_health), (f"Deployment/{spec.deployment}", dep_health))

        def end_in(state: Health) -> ResourceHealth | None:
            for end, end_health in ends:
                if end_health is not None and end_health.health is state:
                    waiting = "waiting for " if state is Health.PROGRESSING else ""
                    return ResourceHealth(address, kind, state, f"{waiting}{end} is {state}: {end_health.reason}",
                                          dep_id)
            return None

        degraded = end_in(Health.DEGRADED)
        if degraded is not None:
            return degraded
        if dep.config.max_replicas == 0:
            return ResourceHealth(address, kind, Health.SUSPENDED, f"deployment {dep_id} is scaled to zero", dep_id)
        suspended, waiting = end_in(Health.SUSPENDED), end_in(Health.PROGRESSING)
        if suspended is not None:
            return suspended
        if spec.scope == "perDeployment":
            if job.config.hot_load_deployment_id != dep_id:
                return waiting or ResourceHealth(address, kind, Health.DEGRADED,
                                                 f"trainer job {job.job_id} is not created for deployment {dep_id}",
                                                 dep_id)
            attached = f"trainer job {job.job_id} feeds deployment {dep_id} (perDeployment)"
        else:
            if dep.config.hot_load_trainer_job != job.name:
                if dep.state == "UPDATING":
                    return ResourceHealth(address, kind, Health.PROGRESSING,
                                          f"deployment {dep_id} is UPDATING towards {job.name}", dep_id)
                serves = dep.config.hot_load_trainer_job or "no trainer"
                return waiting or ResourceHealth(address, kind, Health.DEGRADED,
                                                 f"deployment {dep_id} is attached to {serves}, not {job.name}", dep_id)
            attached = f"deployment {dep_id} attached to {job.job_id}"
        if waiting is not None:
            return waiting
        if not dep.ready and not serves_while_creating(dep):
            return ResourceHealth(address, kind, Health.PROGRESSING, f"{attached}; deployment is {dep.state}", dep_id)
        if idle_at_zero(dep):
            return ResourceHealth(address, kind, Health.HEALTHY, f"{attached}; scaled to zero while idle (min 0)",
                                  dep_id)
        status = observed.hot_load.get(dep_id) if dep_id else None
        served = status.current_snapshot if status is not None else None
        chosen = resolve_pin(spec.snapshot, observed.checkpoints.get(job.job_id, ())) if spec.snapshot else None
        pinned = chosen.snapshot if chosen is not None else spec.snapshot
        if pinned and served != pinned:
            replica = status.replicas[0] if status is not None and status.replicas else None
            if replica is not None and replica.target_snapshot == pinned:
                if replica.stage == "error":
                    return ResourceHealth(address, kind, Health.DEGRADED,
                                          f"hot load of pinned {pinned} failed: {replica.message}", dep_id)
                if replica.stage == "loading":
                    return ResourceHealth(address, kind, Health.PROGRESSING,
                                          f"{attached}; hot-loading pinned {pinned}", dep_id)
            return ResourceHealth(address, kind, Health.DEGRADED,
                                  f"{attached}; serves {served or 'no snapshot'}, pinned {pinned}", dep_id)
        serving = f"; serves snapshot {served}" if served else "; no snapshot loaded yet"
        note = " (pinned)" if spec.snapshot else ""
        return ResourceHealth(address, kind, Health.HEALTHY, f"{attached}{serving}{note}", dep_id)


async def note_on_deployment(ctx: ApplyContext, dep_address: str, job_name: str | None,
                             snapshot: tuple[Any, Any] | None) -> None:
    """Traceability: the deployment's state records the trainer it serves and the snapshot."""
    dep_state = ctx.recorder.get(dep_address) if dep_address else None
    if dep_state is None:
        return
    outputs = dict(dep_state.outputs)
    outputs["attached_trainer"] = job_name
    outputs["snapshot"] = snapshot[0] if snapshot else None
    outputs["snapshot_loaded_at"] = snapshot[1] if snapshot else None
    await ctx.recorder.set(dep_address, dep_state.model_copy(update={"outputs": outputs}))


async def wait_attached(ctx: ApplyContext, dep_id: str, job_name: str, transition: str | None) -> None:
    async def check() -> bool:
        dep = await ctx.provider.get_deployment(dep_id)
        if dep is None:
            raise ChangeFailed(f"deployment {dep_id} disappeared")
        if dep.bad:
            raise ChangeFailed(f"deployment {dep_id} is {dep.state}")
        return ((await serving(ctx.provider, dep))[0] and dep.config.hot_load_trainer_job == job_name
                and (not transition or (dep.config.hot_load_transition or "ASYNC") == transition))

    await ctx.poll.until(check, timeout=ctx.timeout(), what=f"deployment {dep_id} to be READY attached to {job_name}")


async def hot_load(ctx: ApplyContext, dep_id: str, base_model: str, snapshot: str) -> None:
    provider = ctx.provider

    async def replicas_up() -> bool:
        if (await provider.hot_load_status(dep_id, base_model)).replicas:
            return True
        dep = await provider.get_deployment(dep_id)
        if dep is not None and idle_at_zero(dep) and not woken:
            woken.append(dep_id)
            await wake(ctx, dep_id)  # a min: 0 deployment scaled to zero: the request starts a scale-up
        return False

    woken: list[str] = []

    await ctx.poll.until(replicas_up, timeout=ctx.timeout(), what=f"deployment {dep_id} to report serving replicas")
    ctx.event("hot-loading", snapshot)
    await provider.hot_load(dep_id, base_model, snapshot)

    async def loaded() -> bool:
        status = await provider.hot_load_status(dep_id, base_model)
        if not status.replicas:
            return False
        replica = status.replicas[0]
        if replica.stage == "error" and replica.target_snapshot == snapshot:
            raise ChangeFailed(f"hot load of {snapshot} into {dep_id} failed: "
                               f"{replica.message or 'the platform reported an error'}")
        return replica.serves(snapshot)  # its current snapshot, or (LoRA) among its loaded adapters

    await ctx.poll.until(loaded, timeout=ctx.timeout(), what=f"deployment {dep_id} to serve snapshot {snapshot}")
