"""Deployment: a serving deployment with hot load.

Edited in place through PATCH with an updateMask for replicas, transition type, description and
annotations (and the trainer attachment, which the SyncBinding owns); base model, shape, region
and accelerator changes force replacement. Deployment ids are ``<stack>-<name>`` unless
``deploymentId`` names one.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from reconciler.diff import FieldRule, FieldTable
from reconciler.kinds._catalog import check_deployment, read_catalog, sends, training_pinned
from reconciler.kinds._deployment_ready import idle_at_zero, serves_while_creating, wait_ready
from reconciler.kinds._gpus import deployment_gpus
from reconciler.kinds._job_orphans import age_hours
from reconciler.kinds._jobs import (
    display_name,
    imported_record,
    marked_stack,
    refreshed,
    unverified_reason,
)
from reconciler.kinds._retained import PARKED, forget_deployment, kept
from reconciler.kinds.base import (
    ApplyContext,
    ImportRefused,
    Kind,
    Known,
    Orphan,
    PlanContext,
    Poll,
    Reads,
    Settings,
    declared_settings,
    settings_of,
)
from reconciler.model.health import Health, ResourceHealth
from reconciler.model.ownership import (
    ADDRESS_ANNOTATION,
    OWNER_ANNOTATION,
    RETAINED_ANNOTATION,
    is_retained_display,
)
from reconciler.model.plan import Action, FieldDiff
from reconciler.model.remote import (
    DEPLOYMENT_DELETED,
    DEPLOYMENT_FAILED,
    DeploymentConfig,
    DeploymentInfo,
    Observed,
    TrainerJob,
)
from reconciler.model.resources import Deployment, SyncBinding
from reconciler.model.state import ResourceState, ResourceStatus
from reconciler.model.variables import remote_name

if TYPE_CHECKING:
    from reconciler.model.prices import PriceTable
    from reconciler.provider.base import Provider

# Not compared: the attachment (the binding owns it, with the transition type when bound),
# acceptShapelessRisk, a create-time flag, and the display name (an ownership mark). echoed=False:
# annotations are sent on create (as the SDK does) but the public Deployment type does not return
# them, so they are compared with the value state recorded as last applied.
DEPLOYMENT_FIELDS = FieldTable(
    FieldRule("base_model", "baseModel"),
    FieldRule("deployment_shape", "deploymentShape", versioned=True),
    FieldRule("accelerator_type", "accelerator.type"),
    FieldRule("accelerator_count", "accelerator.count"),
    FieldRule("min_replicas", "replicas.min", in_place=True),
    FieldRule("max_replicas", "replicas.max", in_place=True),
    FieldRule("region", "region"),
    FieldRule("hot_load_enabled", "hotLoad.enabled"),
    FieldRule("hot_load_bucket_type", "hotLoad.bucketType"),
    FieldRule("hot_load_transition", "hotLoad.transition", in_place=True),
    FieldRule("description", "description", in_place=True),
    FieldRule("annotations", "annotations", in_place=True, echoed=False),
)

#: Fields the platform changes in place that no manifest path shows (the binding's attachment; the
#: display name, re-marked when a retained deployment is forgotten).
ATTACHMENT = "hot_load_trainer_job"
PATCHABLE = DEPLOYMENT_FIELDS.patchable_attrs | {ATTACHMENT, "display_name"}


def deployment_view(config: DeploymentConfig, *, bound: bool = False) -> dict[str, Any]:
    # A bound deployment's transition type is reconciled by its SyncBinding, with the attachment.
    return DEPLOYMENT_FIELDS.view(config, without=("hotLoad.transition",) if bound else ())


def observed_deployment_view(dep: DeploymentInfo, prior: ResourceState | None, *, bound: bool = False) -> dict[str, Any]:
    """What ``dep`` has, by manifest path: read from the platform, and for the fields it does not return,
    the values state last applied to this same deployment (none for one fwctl did not create)."""
    recorded = prior.applied if prior is not None and prior.remote_id == dep.deployment_id else None
    return DEPLOYMENT_FIELDS.observed(dep.config, recorded, without=("hotLoad.transition",) if bound else ())


def deployment_owner(dep: DeploymentInfo) -> str | None:
    """The stack that marked ``dep`` as its own: the ``fwctl.dev/stack`` annotation where the platform
    returns annotations, else the ``fwctl:<stack>/<name>`` display name (which it always returns)."""
    return dep.config.annotations.get(OWNER_ANNOTATION) or marked_stack(dep.config.display_name)


def retained(dep: DeploymentInfo) -> bool:
    """Forgotten on purpose (``onDestroy: retain``): ``fwctl orphans`` never counts it."""
    return RETAINED_ANNOTATION in dep.config.annotations or is_retained_display(dep.config.display_name)


def deployment_id_for(stack: str, name: str) -> str:
    return f"{stack}-{remote_name(name)}"  # name[key] (for-each): stable per key


def deployment_id(res: Deployment | None, held: str | None, stack: str) -> str | None:
    """The id a deployment has or will have: ``deploymentId``, else the one recorded, else derived."""
    if res is not None and res.spec.deployment_id:
        return res.spec.deployment_id
    if held:
        return held
    return deployment_id_for(stack, res.metadata.name) if res is not None else None


class DeploymentSettings(Settings):
    config: DeploymentConfig | None = None
    detach: bool = False  # scale-to-zero: also detach from the trainer, in the same PATCH
    retain: bool = False  # forget (onDestroy: retain): mark the deployment fwctl.dev/retained first


class DeploymentKind(Kind):
    name: ClassVar[str] = "Deployment"
    model = Deployment
    phase: ClassVar[int] = 1
    order: ClassVar[int] = 2
    default_timeout: ClassVar[float] = 5400.0
    holds: ClassVar[str | None] = "deployment"
    importable: ClassVar[bool] = True
    gpus = deployment_gpus

    def known_remote_id(self, address: str, res: Deployment | None, known: Known) -> str | None:
        held = known.held.get(address)
        return deployment_id(res, held.remote_id if held is not None else None, known.stack)

    def reads(self, res: Deployment, known: Known, reads: Reads) -> None:
        reads.deployments.add(res.spec.deployment_id or deployment_id_for(known.stack, res.metadata.name))
        read_catalog(reads, res.spec.base_model, deployment_shape=res.spec.deployment_shape)

    def later_reads(self, res: Deployment, known: Known, observed: Observed, reads: Reads) -> None:
        dep = observed.deployments.get(res.spec.deployment_id or deployment_id_for(known.stack, res.metadata.name))
        if (dep is None or dep.gone) and res.spec.deployment_shape in observed.deployment_shapes:  # a create
            reads.pins.add(res.spec.deployment_shape)

    def check_catalog(self, res: Deployment, ctx: PlanContext) -> None:
        if sends(ctx, res.address):
            check_deployment(ctx, res.address, self.config(res, ctx))

    # --- planning ---------------------------------------------------------------------------

    def assign_id(self, res: Deployment, ctx: PlanContext) -> None:
        prior = ctx.prior.get(res.address)
        ctx.ids[res.address] = deployment_id(res, prior.remote_id if prior is not None else None, ctx.stack)

    @staticmethod
    def binding_of(res: Deployment, ctx: PlanContext) -> SyncBinding | None:
        return next((b for b in ctx.declared(SyncBinding) if b.spec.deployment == res.metadata.name), None)

    def config(self, res: Deployment, ctx: PlanContext) -> DeploymentConfig:
        spec = res.spec
        binding = self.binding_of(res, ctx)
        transition = spec.hot_load.transition
        trainer_job = None
        if binding is not None:
            transition = binding.spec.transition or transition
            trainer = f"Trainer/{binding.spec.trainer}"
            job_id = ctx.ids.get(trainer)
            job = ctx.trainer_job(job_id)
            # Created attached only to a job that exists or that this plan creates (not one a --target
            # leaves out); otherwise the binding's own change attaches it later.
            if binding.spec.scope == "perTrainer" and job_id and (ctx.in_plan(trainer) or (job and not job.gone)):
                trainer_job = ctx.observed.trainer_name(job_id)
        annotations = dict(spec.annotations)
        annotations[OWNER_ANNOTATION] = ctx.stack
        annotations[ADDRESS_ANNOTATION] = res.address
        return DeploymentConfig(
            base_model=spec.base_model,
            deployment_shape=spec.deployment_shape,
            accelerator_type=spec.accelerator.type if spec.accelerator else None,
            accelerator_count=spec.accelerator.count if spec.accelerator else None,
            accept_shapeless_risk=spec.accept_shapeless_risk,
            # as the SDK's managed path: a trainer-fed deployment is training infrastructure (issue 13)
            for_training=binding is not None or training_pinned(ctx, spec.deployment_shape),
            min_replicas=spec.replicas.min,
            max_replicas=spec.replicas.max,
            region=spec.region or ctx.stack_region,
            hot_load_enabled=spec.hot_load.enabled,
            hot_load_bucket_type=spec.hot_load.bucket_type,
            hot_load_transition=transition,
            hot_load_trainer_job=trainer_job,
            description=spec.description or f"fwctl {ctx.stack}/{res.metadata.name}",
            annotations=annotations,
            display_name=display_name(ctx.stack, res.metadata.name),
        )

    def plan(self, res: Deployment, ctx: PlanContext) -> None:
        address = res.address
        kind = self.name
        dep_id = ctx.ids[address]
        assert dep_id is not None
        config = self.config(res, ctx)
        bound = self.binding_of(res, ctx) is not None
        after = deployment_view(config, bound=bound)
        settings = DeploymentSettings(**declared_settings(res), config=config)
        prior = ctx.prior.get(address)
        dep = ctx.deployment(dep_id)
        if dep is None or dep.gone:
            reasons: tuple[str, ...] = ()
            if prior is not None and prior.remote_id:
                reasons = (vanished(prior, dep_id),)
            ctx.add(address, kind, Action.CREATE, settings, remote_id=dep_id, after=after, reasons=reasons)
            return
        before = observed_deployment_view(dep, prior, bound=bound)
        diffs = DEPLOYMENT_FIELDS.diffs(after, before, ignore=res.spec.lifecycle.ignore_changes)
        unverified = unverified_reason(DEPLOYMENT_FIELDS.unverified(after, before,
                                                                    ignore=res.spec.lifecycle.ignore_changes))
        forcing = tuple(d.path for d in diffs if d.forces_replacement)
        adopting = prior is None or prior.remote_id != dep_id
        if dep.state == DEPLOYMENT_FAILED:
            why = f": {dep.status_message}" if dep.status_message else ""
            ctx.add(address, kind, Action.REPLACE, settings, remote_id=dep_id, prior_remote_id=dep_id,
                    before=before, after=after, diffs=diffs, replace_paths=forcing,
                    reasons=(f"deployment {dep_id} is FAILED{why}",))
            return
        forced = address in ctx.replace
        if forcing or forced:
            if adopting:
                for d in diffs:
                    if d.forces_replacement:
                        ctx.error(address, f"spec.{d.path}",
                                  f"existing deployment {dep_id} has {d.before!r}, the manifest {d.after!r}; "
                                  "fwctl will not replace a deployment it is adopting")
                if not forcing:
                    ctx.error(address, None, f"--replace: fwctl will not replace deployment {dep_id}, which it "
                              "is adopting")
                return
            ctx.add(address, kind, Action.REPLACE, settings, remote_id=dep_id, prior_remote_id=dep_id,
                    before=before, after=after, diffs=diffs, replace_paths=forcing,
                    reasons=("these fields cannot be changed in place",) if forcing else ("forced by --replace",))
            return
        parked = dep.config.max_replicas == 0 and config.max_replicas > 0
        if parked and (adopting or (prior is not None and prior.status == ResourceStatus.PARKED)):
            ctx.add(address, kind, Action.SCALE_UP, settings, remote_id=dep_id, before=before, after=after,
                    diffs=diffs, reasons=(f"deployment {dep_id} is parked at zero replicas and declared again",))
            return
        if adopting:
            owner = deployment_owner(dep)
            if owner and owner != ctx.stack:
                ctx.error(address, "spec.deploymentId",
                          f"deployment {dep_id} is managed by stack {owner!r}, not {ctx.stack!r}")
                return
            ctx.add(address, kind, Action.REATTACH, settings, remote_id=dep_id, before=before, after=after,
                    diffs=diffs, reasons=(f"adopting existing deployment {dep_id} ({dep.state})", *unverified))
            return
        if diffs:
            reasons = (f"deployment {dep_id} was scaled to zero out of band",) if parked else ()
            ctx.add(address, kind, Action.UPDATE, settings, remote_id=dep_id, before=before, after=after,
                    diffs=diffs, reasons=reasons)
            return
        ctx.add(address, kind, Action.NOOP, settings, remote_id=dep_id, before=before, after=after,
                reasons=unverified)

    def plan_removal(self, address: str, prior: ResourceState, ctx: PlanContext) -> None:
        kind = self.name
        why = "removed from the manifests" if not ctx.destroy else "destroy"
        settings = DeploymentSettings(destroy=ctx.destroy)
        dep = ctx.deployment(prior.remote_id)
        on_destroy = ctx.lifecycle_of(address).get("onDestroy") or "scaleToZero"
        common: dict[str, Any] = {"remote_id": prior.remote_id, "before": prior.applied}
        if dep is None or dep.gone:
            ctx.add(address, kind, Action.FORGET, settings, **common,
                    reasons=(f"{why}; deployment {prior.remote_id} is already gone",))
        elif on_destroy == "retain":
            ctx.add(address, kind, Action.FORGET, settings.model_copy(update={"retain": True}), **common,
                    reasons=(f"{why}; onDestroy: retain keeps deployment {prior.remote_id} serving, annotated "
                             f"{RETAINED_ANNOTATION} (fwctl orphans leaves it alone)",))
        elif on_destroy == "delete":
            ctx.add(address, kind, Action.DELETE, settings, **common, reasons=(f"{why}; onDestroy: delete",))
        elif dep.parked:
            ctx.add(address, kind, Action.FORGET if ctx.destroy else Action.NOOP, settings, **common,
                    reasons=(f"deployment {prior.remote_id} is parked at zero replicas",))
        else:
            ctx.add(address, kind, Action.SCALE_TO_ZERO, settings, **common,
                    diffs=(FieldDiff(path="replicas.min", before=dep.config.min_replicas, after=0),
                           FieldDiff(path="replicas.max", before=dep.config.max_replicas, after=0)),
                    reasons=(f"{why}; onDestroy: scaleToZero keeps the deployment, without GPUs",))

    # --- applying ---------------------------------------------------------------------------

    async def apply(self, ctx: ApplyContext) -> None:
        change = ctx.change
        action = change.action
        settings = settings_of(change, DeploymentSettings)
        dep_id = change.remote_id
        provider = ctx.provider
        assert dep_id is not None
        if action is Action.DELETE:
            await ctx.pending("delete", dep_id)
            await provider.delete_deployment(dep_id)
            ctx.mark_created()
            await wait_gone(ctx, dep_id)
            await ctx.recorder.set(change.address, None)
            return
        if action is Action.SCALE_TO_ZERO:
            updates: dict[str, Any] = {"min_replicas": 0, "max_replicas": 0}
            if settings.detach:
                updates[ATTACHMENT] = None
            await provider.update_deployment(dep_id, updates)
            ctx.mark_created()
            dep = await wait_ready(ctx, dep_id)
            if settings.destroy:  # parked on purpose: recorded as retained (fwctl orphans leaves it alone)
                await ctx.recorder.set(change.address, None, retained=kept("deployment", change.address, PARKED))
            else:
                state = self.state_of(ctx, dep)
                await ctx.recorder.set(change.address, state.model_copy(update={"status": ResourceStatus.PARKED}))
            return
        config = settings.config
        assert config is not None
        if action is Action.REPLACE:
            await ctx.pending("replace", dep_id)
            await provider.delete_deployment(dep_id)
            await wait_gone(ctx, dep_id)
        if action in (Action.CREATE, Action.REPLACE):
            await ctx.pending(action.value, dep_id)
            await provider.create_deployment(dep_id, config)
        elif action in (Action.UPDATE, Action.SCALE_UP, Action.REATTACH):
            updates = self.updates(change.diffs, action, config)
            if updates:
                await provider.update_deployment(dep_id, updates)
        ctx.mark_created()
        # Only a create sends the attachment; otherwise the SyncBinding's own change makes it.
        attached = config.hot_load_trainer_job if action in (Action.CREATE, Action.REPLACE) else None
        dep = await wait_ready(ctx, dep_id, attached)
        await ctx.recorder.set(change.address, self.state_of(ctx, dep))

    @staticmethod
    def updates(diffs: tuple[FieldDiff, ...], action: Action, config: DeploymentConfig) -> dict[str, Any]:
        """The PATCH of an in-place change: the changed PATCHable fields (all replicas for a scale-up)."""
        updates: dict[str, Any] = {}
        for diff in diffs:
            attr = DEPLOYMENT_FIELDS.attr_of(diff.path)
            if attr is not None and not diff.forces_replacement:
                updates[attr] = getattr(config, attr)
        if action is Action.SCALE_UP:
            updates.update(min_replicas=config.min_replicas, max_replicas=config.max_replicas)
        return updates

    @staticmethod
    def state_of(ctx: ApplyContext, dep: DeploymentInfo) -> ResourceState:
        outputs: dict[str, Any] = {
            "deployment_id": dep.deployment_id,
            "name": dep.name,
            "inference_model": dep.name,
            "base_model": dep.config.base_model,
            "deployment_shape": dep.config.deployment_shape,
            "replicas": {"min": dep.config.min_replicas, "max": dep.config.max_replicas},
            "state": dep.state,
        }
        prior = ctx.recorder.get(ctx.address)
        if prior is not None:  # keep what the binding recorded (attachment, served snapshot)
            for key in ("attached_trainer", "snapshot", "snapshot_loaded_at"):
                if key in prior.outputs:
                    outputs[key] = prior.outputs[key]
        if dep.config.hot_load_trainer_job:
            outputs["attached_trainer"] = dep.config.hot_load_trainer_job
        return ctx.base_state(dep.deployment_id, dep.name).model_copy(update={
            "outputs": outputs, "pending": None, "status": ResourceStatus.CREATED})

    # --- reading back -----------------------------------------------------------------------

    def drift(self, address: str, held: ResourceState,
              observed: Observed) -> tuple[list[str], ResourceState | None]:
        if not held.remote_id:
            return [], held
        dep = observed.deployments.get(held.remote_id)
        if dep is None or dep.state == DEPLOYMENT_DELETED:
            return [f"deployment {held.remote_id} is gone; dropped from state"], None
        view = observed_deployment_view(dep, held)
        changes = DEPLOYMENT_FIELDS.drifted(held.applied, view)
        if dep.state != held.outputs.get("state"):
            changes.append(f"state: {held.outputs.get('state')} -> {dep.state}")
        attached = held.outputs.get("attached_trainer")
        if attached and dep.config.hot_load_trainer_job != attached:
            changes.append(f"attached trainer: {attached} -> {dep.config.hot_load_trainer_job}")
        status = observed.hot_load.get(held.remote_id)
        served = held.outputs.get("snapshot")
        if served and status is not None and status.current_snapshot != served:
            changes.append(f"served snapshot: {served} -> {status.current_snapshot}")
        outputs = {**held.outputs, "state": dep.state,
                   "replicas": {"min": dep.config.min_replicas, "max": dep.config.max_replicas}}
        return changes, refreshed(held, view, outputs)

    def health(self, address: str, res: Deployment | None, known: Known, observed: Observed,
               probes: Mapping[str, str | None], results: Mapping[str, ResourceHealth]) -> ResourceHealth:
        kind = self.name
        dep_id = self.known_remote_id(address, res, known)
        dep = observed.deployments.get(dep_id) if dep_id else None
        if dep is None or dep.gone:
            why = f"deployment {dep_id} is {dep.state}" if dep is not None else (
                f"deployment {dep_id} not found" if address in known.held else "no deployment yet (run fwctl apply)")
            return ResourceHealth(address, kind, Health.MISSING, why, dep_id)
        message = f": {dep.status_message}" if dep.status_message else ""
        if dep.bad:
            return ResourceHealth(address, kind, Health.DEGRADED, f"deployment is {dep.state}{message}", dep_id)
        replicas = (f"{dep.replica_count} replica{'s' if dep.replica_count != 1 else ''} "
                    f"(min {dep.config.min_replicas}, max {dep.config.max_replicas})")
        if dep.config.max_replicas == 0:
            return ResourceHealth(address, kind, Health.SUSPENDED, f"scaled to zero ({dep.state}, no replicas)", dep_id)
        if idle_at_zero(dep):
            return ResourceHealth(address, kind, Health.HEALTHY, f"READY, scaled to zero while idle (min 0; the next "
                                  f"request wakes it); {replicas}", dep_id)
        if serves_while_creating(dep):
            return ResourceHealth(address, kind, Health.HEALTHY, f"CREATING but serving (hot load; the platform "
                                  f"leaves it CREATING); {replicas}", dep_id)
        if not dep.ready:
            return ResourceHealth(address, kind, Health.PROGRESSING, f"{dep.state}{message}; {replicas}", dep_id)
        if dep.replica_count < dep.config.min_replicas:
            return ResourceHealth(address, kind, Health.PROGRESSING, f"READY, scaling: {replicas}", dep_id)
        return ResourceHealth(address, kind, Health.HEALTHY, f"READY; {replicas}", dep_id)

    # --- import and orphans -----------------------------------------------------------------

    async def read_for_import(self, provider: Provider, remote_id: str) -> DeploymentInfo | None:
        return await provider.get_deployment(remote_id)

    def import_record(self, address: str, res: Deployment, remote: DeploymentInfo, stack: str) -> ResourceState:
        owner = deployment_owner(remote)
        if owner and owner != stack:
            raise ImportRefused(f"{remote.deployment_id} is managed by stack {owner!r}, not {stack!r}; "
                                "refusing to import it")
        if remote.config.base_model != res.spec.base_model:
            raise ImportRefused(f"{address}: {remote.deployment_id} serves {remote.config.base_model}, the "
                                f"manifest declares {res.spec.base_model}; refusing to import a different model")
        return imported_record(address, res, remote.deployment_id, remote.name,
                               DEPLOYMENT_FIELDS.readable(remote.config), remote.state)

    async def forget(self, ctx: ApplyContext) -> None:
        """A retained deployment is re-marked (``fwctl.dev/retained``) before it leaves the state; a
        retained or parked one is recorded there as retained (``_retained``: fwctl orphans skips it)."""
        await forget_deployment(ctx, retain=settings_of(ctx.change, DeploymentSettings).retain)

    def orphans(self, stack: str, referenced: set[str], trainers: list[TrainerJob],
                deployments: list[DeploymentInfo], now: datetime,
                names: frozenset[str] | None = None, prices: PriceTable | None = None) -> list[Orphan]:
        """This stack's deployments (``fwctl.dev/stack``) no state references; retained ones flagged."""
        from reconciler.model.prices import hourly

        found = []
        for dep in deployments:
            if dep.gone or dep.deployment_id in referenced or deployment_owner(dep) != stack:
                continue
            label, rate = hourly(dep.config.accelerator_type, dep.config.accelerator_count, dep.replica_count, prices)
            found.append(Orphan("deployment", dep.deployment_id, dep.name, dep.state,
                                age_hours(dep.create_time, now), label, rate, created=dep.create_time,
                                retained=retained(dep)))
        return found

    async def delete_orphan(self, provider: Provider, remote_id: str, poll: Poll) -> None:
        await provider.delete_deployment(remote_id)
        await deployment_gone(provider, poll, remote_id, self.default_timeout)


def vanished(prior: ResourceState, dep_id: str) -> str:
    """Why a deployment in state is gone: a ``min: 0`` one (parked or idle) was most likely deleted by the
    platform, which deletes those after 7 days without traffic; any other was deleted out of band."""
    if prior.status == ResourceStatus.PARKED or (prior.applied or {}).get("replicas.min") == 0:
        return (f"deployment {dep_id} is gone: the platform deletes min: 0 deployments (parked or scaled to zero) "
                "after 7 days without traffic; it is created again")
    return f"deployment {dep_id} was deleted out of band; it is created again"


async def wait_gone(ctx: ApplyContext, dep_id: str) -> None:
    await deployment_gone(ctx.provider, ctx.poll, dep_id, ctx.timeout("delete"))


async def deployment_gone(provider: Provider, poll: Poll, dep_id: str, timeout: float) -> None:
    async def check() -> bool:
        dep = await provider.get_deployment(dep_id)
        return dep is None or dep.state == DEPLOYMENT_DELETED

    await poll.until(check, timeout=timeout, what=f"deployment {dep_id} to be deleted")
