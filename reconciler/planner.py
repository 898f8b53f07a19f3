"""The planner: desired manifests + prior state + a fresh read of the account -> Plan.

Pure: no I/O, no clock that matters, no randomness. Remote ids are chosen here, client-side and
deterministically (from the state's lineage, the address and the state serial), so a plan applied
twice, or an apply killed and re-run, names the same remote resources instead of duplicating them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from reconciler import __version__
from reconciler.diff import (
    DEPLOYMENT_IN_PLACE,
    deployment_view,
    field_diffs,
    trainer_view,
)
from reconciler.graph import dependencies, topological_order
from reconciler.model.ownership import ADDRESS_ANNOTATION, DISPLAY_PREFIX, OWNER_ANNOTATION
from reconciler.model.plan import Action, Change, FieldDiff, Plan
from reconciler.model.problems import Problem
from reconciler.model.remote import (
    DeploymentConfig,
    DeploymentInfo,
    Observed,
    TrainerConfig,
    TrainerJob,
)
from reconciler.model.resources import (
    Deployment,
    ReferenceTrainer,
    Resource,
    SyncBinding,
    Trainer,
)
from reconciler.model.state import ResourceState, StateDocument


class PlanError(Exception):
    """The manifests cannot be planned against this account; one problem per line."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass(frozen=True)
class PlanRequest:
    """Everything the planner looks at."""

    stack: str
    endpoint: str
    observed: Observed
    prior: StateDocument | None = None
    resources: Mapping[str, Resource] = field(default_factory=dict)
    stack_region: str | None = None
    manifests_digest: str = ""
    destroy: bool = False
    targets: tuple[str, ...] = ()
    id_seed: str = ""  # the lineage the state has or will have
    locate: Any = None  # callable(address, field) -> "FILE:LINE:COL", for located errors


def job_id_for(stack: str, name: str, seed: str, generation: int) -> str:
    suffix = hashlib.sha256(f"{seed}:{name}:{generation}".encode()).hexdigest()[:6]
    return f"{stack}-{name}-{suffix}"


class _Planner:
    def __init__(self, req: PlanRequest):
        self.req = req
        self.obs = req.observed
        self.prior = req.prior.resources if req.prior else {}
        self.generation = req.prior.serial if req.prior else 0
        self.resources = {} if req.destroy else dict(req.resources)
        self.problems: list[Problem] = []
        self.changes: dict[str, Change] = {}
        # Planned remote ids (job id / deployment id) of declared trainers and deployments.
        self.ids: dict[str, str | None] = {}
        self.removal_deps: dict[str, tuple[str, ...]] = {}

    # --- helpers --------------------------------------------------------------------------------

    def error(self, address: str, fld: str | None, message: str) -> None:
        """A located problem: FILE:LINE:COL of the field when the manifests can tell it."""
        file: str | None = None
        line: int | None = None
        col: int | None = None
        where = self.req.locate(address, fld) if self.req.locate else None
        if where:
            rest, _, col_text = where.rpartition(":")
            file, _, line_text = rest.rpartition(":")
            if line_text.isdigit() and col_text.isdigit():
                line, col = int(line_text), int(col_text)
            else:
                file = where
        self.problems.append(Problem(file=file, line=line, col=col, address=address, field=fld, message=message))

    def bindings(self) -> list[SyncBinding]:
        return [r for r in self.resources.values() if isinstance(r, SyncBinding)]

    def binding_of_deployment(self, name: str) -> SyncBinding | None:
        return next((b for b in self.bindings() if b.spec.deployment == name), None)

    def trainer_job(self, job_id: str | None) -> TrainerJob | None:
        return self.obs.trainers.get(job_id) if job_id else None

    def deployment(self, dep_id: str | None) -> DeploymentInfo | None:
        return self.obs.deployments.get(dep_id) if dep_id else None

    # --- remote ids -----------------------------------------------------------------------------

    def trainer_id(self, address: str, name: str, explicit: str | None) -> str:
        if explicit:
            return explicit
        prior = self.prior.get(address)
        if prior is not None:
            if prior.pending and prior.pending.remote_id:
                return prior.pending.remote_id
            if prior.remote_id:
                job = self.trainer_job(prior.remote_id)
                if job is not None and not job.gone:
                    return prior.remote_id
        job_id = job_id_for(self.req.stack, name, self.req.id_seed, self.generation)
        if prior is not None and prior.remote_id == job_id:  # a tombstone cannot be reused
            job_id = job_id_for(self.req.stack, name, self.req.id_seed, self.generation + 1)
        return job_id

    def deployment_id(self, address: str, name: str, explicit: str | None) -> str:
        if explicit:
            return explicit
        prior = self.prior.get(address)
        if prior is not None and prior.remote_id:
            return prior.remote_id
        return f"{self.req.stack}-{name}"

    # --- desired configs ------------------------------------------------------------------------

    def trainer_config(self, res: Trainer) -> TrainerConfig:
        spec = res.spec
        hot_load_deployment = None
        for binding in self.bindings():
            if binding.spec.trainer == res.metadata.name and binding.spec.scope == "perDeployment":
                hot_load_deployment = self.ids.get(f"Deployment/{binding.spec.deployment}")
        return TrainerConfig(
            base_model=spec.base_model,
            lora_rank=spec.lora_rank,
            learning_rate=spec.learning_rate,
            training_shape=spec.training_shape,
            accelerator_type=spec.accelerator.type if spec.accelerator else None,
            accelerator_count=spec.accelerator.count if spec.accelerator else None,
            node_count=spec.node_count,
            max_context_length=spec.max_context_length,
            replica_count=spec.replica_count,
            region=spec.region or self.req.stack_region,
            display_name=spec.display_name or self.display_name(res.metadata.name),
            inactivity_timeout=spec.inactivity_timeout,
            forward_only=False,
            hot_load_deployment_id=hot_load_deployment,
        )

    def display_name(self, name: str) -> str:
        return f"{DISPLAY_PREFIX}{self.req.stack}/{name}"[:63]

    def policy_of(self, res: ReferenceTrainer) -> Trainer | None:
        policy = self.resources.get(f"Trainer/{res.spec.policy}")
        return policy if isinstance(policy, Trainer) else None

    def reference_config(self, res: ReferenceTrainer, policy: Trainer) -> TrainerConfig | None:
        """None: a shared session on the LoRA policy (no remote resource)."""
        shape = res.spec.training_shape
        if shape is None and policy.spec.lora_rank > 0:
            return None
        rank = policy.spec.lora_rank if (shape and policy.spec.lora_rank > 0) else 0
        return TrainerConfig(
            base_model=policy.spec.base_model,
            lora_rank=rank,
            learning_rate=policy.spec.learning_rate,
            training_shape=shape,
            region=policy.spec.region or self.req.stack_region,
            display_name=self.display_name(res.metadata.name),
            forward_only=True,
        )

    def deployment_config(self, res: Deployment) -> DeploymentConfig:
        spec = res.spec
        binding = self.binding_of_deployment(res.metadata.name)
        transition = spec.hot_load.transition
        trainer_job = None
        if binding is not None:
            transition = binding.spec.transition or transition
            if binding.spec.scope == "perTrainer":
                job_id = self.ids.get(f"Trainer/{binding.spec.trainer}")
                trainer_job = self.obs.trainer_name(job_id) if job_id else None
        annotations = dict(spec.annotations)
        annotations[OWNER_ANNOTATION] = self.req.stack
        annotations[ADDRESS_ANNOTATION] = res.address
        return DeploymentConfig(
            base_model=spec.base_model,
            deployment_shape=spec.deployment_shape,
            accelerator_type=spec.accelerator.type if spec.accelerator else None,
            accelerator_count=spec.accelerator.count if spec.accelerator else None,
            accept_shapeless_risk=spec.accept_shapeless_risk,
            min_replicas=spec.replicas.min,
            max_replicas=spec.replicas.max,
            region=spec.region or self.req.stack_region,
            hot_load_enabled=spec.hot_load.enabled,
            hot_load_bucket_type=spec.hot_load.bucket_type,
            hot_load_transition=transition,
            hot_load_trainer_job=trainer_job,
            description=spec.description or f"fwctl {self.req.stack}/{res.metadata.name}",
            annotations=annotations,
        )

    # --- per kind -------------------------------------------------------------------------------

    def plan_trainer_like(
        self,
        address: str,
        config: TrainerConfig | None,
        job_id: str | None,
        explicit: bool,
        ignore: Iterable[str],
        extras: dict[str, Any],
    ) -> None:
        kind = address.split("/")[0]
        prior = self.prior.get(address)
        prior_job_id = prior.remote_id if prior else None
        if config is None:  # a shared-session reference
            policy = extras.get("shared_with")
            if prior_job_id:
                self.add(address, kind, Action.DELETE, remote_id=prior_job_id,
                         before=prior.applied if prior else None,
                         reasons=(f"the reference becomes a shared session on {policy}; its forward-only "
                                  f"job {prior_job_id} is deleted",), extras=extras)
            else:
                action = Action.NOOP if prior else Action.CREATE
                self.add(address, kind, action, reasons=(f"shared with {policy} (LoRA adapters disabled); "
                                                         "no remote resource",), extras=extras)
            return
        assert job_id is not None
        after = trainer_view(config)
        extras = {**extras, "job_name": self.obs.trainer_name(job_id), "config": config.model_dump(mode="json")}
        job = self.trainer_job(job_id)
        pending = prior.pending if prior else None

        if pending is not None and pending.remote_id == job_id and pending.operation in ("create", "replace"):
            action = Action.REPLACE if pending.operation == "replace" else Action.CREATE
            self.add(address, kind, action, remote_id=job_id,
                     prior_remote_id=prior_job_id if prior_job_id != job_id else None,
                     before=prior.applied if prior else None, after=after,
                     reasons=(f"finishing an interrupted {pending.operation} of trainer job {job_id}",),
                     extras=extras)
            return
        if job is None or job.gone:
            if explicit and job is not None:
                self.error(address, "spec.jobId", f"trainer job {job_id} is {job.state} and cannot be reused; "
                           "remove spec.jobId or name another job")
                return
            reasons: tuple[str, ...] = ()
            if prior is not None and prior.remote_id:
                state = job.state if job is not None else "not found"
                reasons = (f"trainer job {prior.remote_id} was deleted out of band ({state}); a new one is created",)
            elif explicit:
                reasons = (f"job {job_id} does not exist yet: it is created with that id",)
            self.add(address, kind, Action.CREATE, remote_id=job_id, after=after, reasons=reasons, extras=extras)
            return

        before = trainer_view(job.config)
        diffs = field_diffs(after, before, ignore=ignore)
        adopting = prior is None or prior.remote_id != job_id
        if diffs and explicit:
            for d in diffs:
                self.error(address, f"spec.{d.path}",
                           f"differs from adopted trainer job {job_id} ({d.before!r} there, {d.after!r} here); "
                           "trainer jobs cannot be edited in place: remove spec.jobId to let fwctl replace it")
            return
        if diffs:
            new_id = job_id_for(self.req.stack, address.split("/")[1], self.req.id_seed, self.generation + 1)
            if new_id == job_id:
                new_id = job_id_for(self.req.stack, address.split("/")[1], self.req.id_seed, self.generation + 2)
            self.ids[address] = new_id
            self.add(address, kind, Action.REPLACE, remote_id=new_id, prior_remote_id=job_id,
                     before=before, after=after, diffs=diffs,
                     replace_paths=tuple(d.path for d in diffs if d.forces_replacement),
                     reasons=("trainer jobs cannot be edited in place",),
                     extras={**extras, "job_name": self.obs.trainer_name(new_id)})
            return
        if adopting:
            self.add(address, kind, Action.REATTACH, remote_id=job_id, before=before, after=after,
                     reasons=(f"adopting existing trainer job {job_id} ({job.state})",), extras=extras)
            return
        if job.resumable:
            why = f": {job.status_message}" if job.status_message else ""
            self.add(address, kind, Action.RESUME, remote_id=job_id, before=before, after=after,
                     reasons=(f"trainer job {job_id} is {job.state}{why}",), extras=extras)
            return
        self.add(address, kind, Action.NOOP, remote_id=job_id, before=before, after=after, extras=extras)

    def plan_deployment(self, res: Deployment) -> None:
        address = res.address
        dep_id = self.ids[address]
        assert dep_id is not None
        config = self.deployment_config(res)
        bound = self.binding_of_deployment(res.metadata.name) is not None
        after = deployment_view(config, bound=bound)
        extras = {**self.common_extras(res), "lifecycle": self.lifecycle(res), "config": config.model_dump(mode="json")}
        prior = self.prior.get(address)
        dep = self.deployment(dep_id)
        ignore = res.spec.lifecycle.ignore_changes
        if dep is None or dep.state in ("DELETED", "DELETING"):
            reasons: tuple[str, ...] = ()
            if prior is not None and prior.remote_id:
                reasons = (f"deployment {dep_id} was deleted out of band; it is created again",)
            self.add(address, "Deployment", Action.CREATE, remote_id=dep_id, after=after, reasons=reasons,
                     extras=extras)
            return
        before = deployment_view(dep.config, bound=bound)
        diffs = field_diffs(after, before, ignore=ignore, in_place=DEPLOYMENT_IN_PLACE)
        forcing = tuple(d.path for d in diffs if d.forces_replacement)
        adopting = prior is None or prior.remote_id != dep_id
        if dep.state == "FAILED":
            why = f": {dep.status_message}" if dep.status_message else ""
            self.add(address, "Deployment", Action.REPLACE, remote_id=dep_id, prior_remote_id=dep_id,
                     before=before, after=after, diffs=diffs, replace_paths=forcing,
                     reasons=(f"deployment {dep_id} is FAILED{why}",), extras=extras)
            return
        if forcing:
            if adopting:
                for d in diffs:
                    if d.forces_replacement:
                        self.error(address, f"spec.{d.path}",
                                   f"existing deployment {dep_id} has {d.before!r}, the manifest {d.after!r}; "
                                   "fwctl will not replace a deployment it is adopting")
                return
            self.add(address, "Deployment", Action.REPLACE, remote_id=dep_id, prior_remote_id=dep_id,
                     before=before, after=after, diffs=diffs, replace_paths=forcing,
                     reasons=("these fields cannot be changed in place",), extras=extras)
            return
        parked = dep.config.max_replicas == 0 and config.max_replicas > 0
        if parked and (adopting or (prior is not None and prior.status == "parked")):
            self.add(address, "Deployment", Action.SCALE_UP, remote_id=dep_id, before=before, after=after,
                     diffs=diffs, reasons=(f"deployment {dep_id} is parked at zero replicas and declared again",),
                     extras=extras)
            return
        if adopting:
            owner = dep.config.annotations.get(OWNER_ANNOTATION)
            if owner and owner != self.req.stack:
                self.error(address, "spec.deploymentId",
                           f"deployment {dep_id} is managed by stack {owner!r}, not {self.req.stack!r}")
                return
            self.add(address, "Deployment", Action.REATTACH, remote_id=dep_id, before=before, after=after,
                     diffs=diffs, reasons=(f"adopting existing deployment {dep_id} ({dep.state})",),
                     extras=extras)
            return
        if diffs:
            reasons = ()
            if parked:
                reasons = (f"deployment {dep_id} was scaled to zero out of band",)
            self.add(address, "Deployment", Action.UPDATE, remote_id=dep_id, before=before, after=after,
                     diffs=diffs, reasons=reasons, extras=extras)
            return
        self.add(address, "Deployment", Action.NOOP, remote_id=dep_id, before=before, after=after, extras=extras)

    def plan_binding(self, res: SyncBinding) -> None:
        address = res.address
        spec = res.spec
        trainer_addr = f"Trainer/{spec.trainer}"
        dep_addr = f"Deployment/{spec.deployment}"
        job_id = self.ids.get(trainer_addr)
        dep_id = self.ids.get(dep_addr)
        assert job_id is not None and dep_id is not None
        deployment = self.resources.get(dep_addr)
        assert isinstance(deployment, Deployment)
        transition = spec.transition or deployment.spec.hot_load.transition
        trainer = self.resources.get(trainer_addr)
        if isinstance(trainer, Trainer) and trainer.spec.base_model != deployment.spec.base_model:
            self.error(address, "spec.trainer",
                       f"{trainer_addr} trains {trainer.spec.base_model} but {dep_addr} serves "
                       f"{deployment.spec.base_model}: a deployment can only hot-load its own base model")
            return
        job_name = self.obs.trainer_name(job_id)
        after: dict[str, Any] = {"scope": spec.scope, "trainer": job_name, "deployment": dep_id,
                                 "transition": transition, "snapshot": spec.snapshot}
        extras: dict[str, Any] = {
            **self.common_extras(res), "job_id": job_id, "job_name": job_name, "deployment_id": dep_id,
            "trainer_address": trainer_addr, "deployment_address": dep_addr,
            "base_model": deployment.spec.base_model,
            "full_load": self.trainer_lora_rank(spec.trainer) == 0,
        }
        dep = self.deployment(dep_id)
        trainer_change = self.changes.get(trainer_addr)
        dep_change = self.changes.get(dep_addr)
        prior = self.prior.get(address)
        status = self.obs.hot_load.get(dep_id)
        served = status.current_snapshot if status is not None else None
        observed_trainer = None
        observed_transition = None
        if dep is not None:
            observed_transition = dep.config.hot_load_transition
            observed_trainer = dep.config.hot_load_trainer_job
        if spec.scope == "perDeployment":
            job = self.trainer_job(job_id)
            observed_trainer = job_name if job and job.config.hot_load_deployment_id == dep_id else None
        before: dict[str, Any] | None = None
        if prior is not None:
            before = {"scope": spec.scope, "trainer": observed_trainer, "deployment": dep_id,
                      "transition": observed_transition, "snapshot": served}
        if spec.snapshot:
            self.check_snapshot(res, job_id, trainer_change)

        fresh = {Action.CREATE, Action.REPLACE}
        if prior is None:
            self.add(address, "SyncBinding", Action.CREATE, remote_id=dep_id, after=after,
                     reasons=(f"attach {dep_addr} to {trainer_addr} ({spec.scope})",), extras=extras)
            return
        reasons: list[str] = []
        diffs: list[FieldDiff] = []
        if trainer_change and trainer_change.action in (fresh | {Action.RESUME}):
            verb = {"replace": "replaced", "resume": "resumed", "create": "re-created"}[trainer_change.action.value]
            reasons.append(f"{trainer_addr} is {verb}: {dep_addr} is re-pointed at {job_name}")
        elif dep_change and dep_change.action in fresh:
            reasons.append(f"{dep_addr} is re-created: it is attached to {job_name} again")
        if observed_trainer != job_name:
            diffs.append(FieldDiff(path="trainer", before=observed_trainer, after=job_name))
            if not reasons:
                reasons.append(f"{dep_addr} serves {observed_trainer or 'no trainer'}, not {job_name}")
        if spec.scope == "perTrainer" and transition and (observed_transition or "ASYNC") != transition:
            diffs.append(FieldDiff(path="transition", before=observed_transition, after=transition))
            reasons.append(f"transition type {observed_transition or 'ASYNC'} -> {transition}")
        if reasons or diffs:
            self.add(address, "SyncBinding", Action.REATTACH, remote_id=dep_id, before=before, after=after,
                     diffs=tuple(diffs), reasons=tuple(reasons), extras=extras)
            return
        if spec.snapshot and served != spec.snapshot:
            self.add(address, "SyncBinding", Action.HOTLOAD, remote_id=dep_id, before=before, after=after,
                     diffs=(FieldDiff(path="snapshot", before=served, after=spec.snapshot),),
                     reasons=(f"hotload {served or 'nothing'} -> {spec.snapshot}",), extras=extras)
            return
        self.add(address, "SyncBinding", Action.NOOP, remote_id=dep_id, before=before, after=after, extras=extras)

    def trainer_lora_rank(self, name: str) -> int:
        trainer = self.resources.get(f"Trainer/{name}")
        return trainer.spec.lora_rank if isinstance(trainer, Trainer) else 0

    def check_snapshot(self, res: SyncBinding, job_id: str, trainer_change: Change | None) -> None:
        if trainer_change is not None and trainer_change.action in (Action.CREATE, Action.REPLACE):
            self.error(res.address, "spec.snapshot",
                       f"snapshot {res.spec.snapshot!r} cannot be served yet: Trainer/{res.spec.trainer} is "
                       f"being {'created' if trainer_change.action is Action.CREATE else 'replaced'}, so its "
                       "job has no snapshots; apply without the pin first")
            return
        snapshots = [c.snapshot for c in self.obs.checkpoints.get(job_id, ())]
        if res.spec.snapshot not in snapshots:
            newest = ", ".join(reversed(snapshots[-5:])) or "none"
            self.error(res.address, "spec.snapshot",
                       f"trainer job {job_id} has no sampler snapshot {res.spec.snapshot!r} "
                       f"(newest: {newest})")

    def common_extras(self, res: Resource) -> dict[str, Any]:
        spec = res.spec
        timeouts = getattr(spec, "timeouts", None)
        return {
            "labels": dict(res.metadata.labels),
            "timeouts": timeouts.model_dump() if timeouts is not None else {},
        }

    # --- removal --------------------------------------------------------------------------------

    def plan_removal(self, address: str, prior: ResourceState) -> None:
        kind = prior.kind
        self.removal_deps[address] = tuple(prior.depends_on)
        lifecycle = prior.lifecycle
        on_destroy = lifecycle.get("onDestroy")
        if lifecycle.get("preventDestroy"):
            self.error(address, "spec.lifecycle.preventDestroy",
                       "is true, and this plan would destroy it; set preventDestroy: false first")
            return
        why = "removed from the manifests" if not self.req.destroy else "destroy"
        extras: dict[str, Any] = {"destroy": self.req.destroy}
        if kind in ("Trainer", "ReferenceTrainer"):
            if not prior.remote_id:
                self.add(address, kind, Action.FORGET, reasons=(f"{why}; no remote resource",), extras=extras)
            elif on_destroy == "retain":
                self.add(address, kind, Action.FORGET, remote_id=prior.remote_id, before=prior.applied,
                         reasons=(f"{why}; onDestroy: retain keeps trainer job {prior.remote_id} running",),
                         extras=extras)
            else:
                job = self.trainer_job(prior.remote_id)
                if job is None or job.gone:
                    self.add(address, kind, Action.FORGET, remote_id=prior.remote_id, before=prior.applied,
                             reasons=(f"{why}; trainer job {prior.remote_id} is already gone",), extras=extras)
                else:
                    self.add(address, kind, Action.DELETE, remote_id=prior.remote_id, before=prior.applied,
                             reasons=(f"{why}; onDestroy: delete",), extras=extras)
        elif kind == "Deployment":
            dep = self.deployment(prior.remote_id)
            on_destroy = on_destroy or "scaleToZero"
            if dep is None or dep.state in ("DELETED", "DELETING"):
                self.add(address, kind, Action.FORGET, remote_id=prior.remote_id, before=prior.applied,
                         reasons=(f"{why}; deployment {prior.remote_id} is already gone",), extras=extras)
            elif on_destroy == "retain":
                self.add(address, kind, Action.FORGET, remote_id=prior.remote_id, before=prior.applied,
                         reasons=(f"{why}; onDestroy: retain keeps deployment {prior.remote_id} serving",),
                         extras=extras)
            elif on_destroy == "delete":
                self.add(address, kind, Action.DELETE, remote_id=prior.remote_id, before=prior.applied,
                         reasons=(f"{why}; onDestroy: delete",), extras=extras)
            elif dep.config.max_replicas == 0 and dep.config.min_replicas == 0:
                action = Action.FORGET if self.req.destroy else Action.NOOP
                self.add(address, kind, action, remote_id=prior.remote_id, before=prior.applied,
                         reasons=(f"deployment {prior.remote_id} is parked at zero replicas",), extras=extras)
            else:
                self.add(address, kind, Action.SCALE_TO_ZERO, remote_id=prior.remote_id, before=prior.applied,
                         diffs=(FieldDiff(path="replicas.min", before=dep.config.min_replicas, after=0),
                                FieldDiff(path="replicas.max", before=dep.config.max_replicas, after=0)),
                         reasons=(f"{why}; onDestroy: scaleToZero keeps the deployment, without GPUs",),
                         extras=extras)
        elif kind == "SyncBinding":
            dep_id = prior.remote_id
            dep = self.deployment(dep_id)
            dep_address = str(prior.outputs.get("deployment_address", ""))
            dep_change = self.changes.get(dep_address)
            if dep is None or (dep_change is not None and dep_change.action is Action.DELETE):
                self.add(address, kind, Action.FORGET, remote_id=dep_id,
                         reasons=(f"{why}; its deployment is gone or deleted",), extras=extras)
            elif dep_change is not None and dep_change.action is Action.SCALE_TO_ZERO:
                # One PATCH, one pod roll: the deployment is detached as it is scaled to zero.
                self.changes[dep_address] = dep_change.model_copy(
                    update={"extras": {**dep_change.extras, "detach": True},
                            "reasons": (*dep_change.reasons, "detached from its trainer in the same update")})
                self.add(address, kind, Action.FORGET, remote_id=dep_id,
                         reasons=(f"{why}; {dep_address} is detached as it is scaled to zero",), extras=extras)
            else:
                self.add(address, kind, Action.DELETE, remote_id=dep_id, before=prior.applied,
                         reasons=(f"{why}: deployment {dep_id} is detached from its trainer",),
                         extras={**extras, "scope": prior.outputs.get("scope", "perTrainer")})
        else:
            self.add(address, kind, Action.FORGET, reasons=(why,), extras=extras)

    # --- assembly -------------------------------------------------------------------------------

    def add(self, address: str, kind: str, action: Action, **fields: Any) -> None:
        self.changes[address] = Change(address=address, kind=kind, action=action, **fields)

    def run(self) -> Plan:
        order = topological_order(dependencies(self.resources))
        # Remote ids first: bindings and deployments refer to trainers' ids and the other way round.
        for address in order:
            res = self.resources[address]
            if isinstance(res, Trainer):
                self.ids[address] = self.trainer_id(address, res.metadata.name, res.spec.job_id)
            elif isinstance(res, Deployment):
                self.ids[address] = self.deployment_id(address, res.metadata.name, res.spec.deployment_id)
        for address in order:
            res = self.resources[address]
            if isinstance(res, Trainer):
                self.plan_trainer_like(address, self.trainer_config(res), self.ids[address],
                                       res.spec.job_id is not None, res.spec.lifecycle.ignore_changes,
                                       {**self.common_extras(res), "lifecycle": self.lifecycle(res)})
        for address in order:
            res = self.resources[address]
            if isinstance(res, ReferenceTrainer):
                policy = self.policy_of(res)
                if policy is None:
                    continue
                config = self.reference_config(res, policy)
                job_id = self.trainer_id(address, res.metadata.name, None) if config else None
                self.ids[address] = job_id
                if config is not None and res.spec.training_shape:
                    self.check_reference_shape(res, policy)
                # A frozen reference does not train: its learning rate is never a reason to replace it.
                ignore = (*res.spec.lifecycle.ignore_changes, "learningRate")
                self.plan_trainer_like(address, config, job_id, False, ignore,
                                       {**self.common_extras(res), "lifecycle": self.lifecycle(res),
                                        "shared_with": policy.address})
            elif isinstance(res, Deployment):
                self.plan_deployment(res)
        for address in order:
            res = self.resources[address]
            if isinstance(res, SyncBinding):
                self.plan_binding(res)
        for address, prior in self.prior.items():
            if address not in self.resources:
                self.plan_removal(address, prior)
        if self.problems:
            raise PlanError(self.problems)
        return self.assemble(order)

    def lifecycle(self, res: Resource) -> dict[str, Any]:
        lifecycle = getattr(res.spec, "lifecycle", None)
        return lifecycle.model_dump(by_alias=True, mode="json") if lifecycle is not None else {}

    def check_reference_shape(self, res: ReferenceTrainer, policy: Trainer) -> None:
        shape = self.obs.training_shapes.get(res.spec.training_shape or "")
        if shape is None:
            return
        rank = policy.spec.lora_rank
        allowed = {"LORA_TRAINER"} if rank > 0 else {"LORA_TRAINER", "FORWARD_ONLY"}
        if shape.trainer_mode not in allowed:
            self.error(res.address, "spec.trainingShape",
                       f"shape {res.spec.training_shape} is a {shape.trainer_mode} shape; a reference for a "
                       f"{'LoRA' if rank else 'full-parameter'} policy needs {' or '.join(sorted(allowed))}")

    def created_only_edges(self) -> dict[str, set[str]]:
        """Edges that need the other resource to exist, not to be ready.

        A separate reference does not wait for its policy to boot; a perDeployment trainer is created
        once its deployment exists; a deployment created for a perTrainer binding is created attached
        to its trainer as soon as the trainer job exists (one pod roll fewer than attaching later).
        """
        edges: dict[str, set[str]] = {}
        for address, res in self.resources.items():
            if isinstance(res, ReferenceTrainer):
                edges.setdefault(address, set()).add(f"Trainer/{res.spec.policy}")
            elif isinstance(res, SyncBinding):
                trainer, dep = f"Trainer/{res.spec.trainer}", f"Deployment/{res.spec.deployment}"
                if res.spec.scope == "perDeployment":
                    edges.setdefault(trainer, set()).add(dep)
                else:
                    dep_change, trainer_change = self.changes.get(dep), self.changes.get(trainer)
                    if (dep_change is not None and dep_change.action in (Action.CREATE, Action.REPLACE)
                            and trainer_change is not None
                            and trainer_change.action in (Action.CREATE, Action.REPLACE)):
                        edges.setdefault(dep, set()).add(trainer)
        return edges

    def assemble(self, order: list[str]) -> Plan:
        deps = dependencies(self.resources)
        created_only = self.created_only_edges()
        ordered: list[Change] = []
        for address in order:
            if address in self.changes:
                change = self.changes[address]
                weak = created_only.get(address, set())
                strong = set(deps.get(address, ())) - weak
                ordered.append(change.model_copy(update={
                    "depends_on": tuple(sorted(strong)), "after_created": tuple(sorted(weak))}))
        removals = [c.model_copy(update={"depends_on": self.removal_deps.get(a, ())})
                    for a, c in self.changes.items() if a not in self.resources]
        ordered.extend(removals)
        if self.req.targets:
            ordered = [c for c in ordered if c.address in self._targeted(deps)]
        prior = self.req.prior
        return Plan(
            fwctl_version=__version__,
            stack=self.req.stack,
            endpoint=self.req.endpoint,
            account=self.obs.account,
            state_lineage=prior.lineage if prior else self.req.id_seed or None,
            state_serial=prior.serial if prior else 0,
            manifests_digest=self.req.manifests_digest,
            destroy=self.req.destroy,
            changes=tuple(ordered),
        )

    def _targeted(self, deps: Mapping[str, set[str]]) -> set[str]:
        """The targets and everything they depend on (Terraform's -target semantics)."""
        wanted = set(self.req.targets)
        stack = list(wanted)
        while stack:
            for dep in deps.get(stack.pop(), ()):
                if dep not in wanted:
                    wanted.add(dep)
                    stack.append(dep)
        return wanted


def plan_changes(request: PlanRequest) -> Plan:
    """Compute the plan. Raises PlanError with every problem found."""
    return _Planner(request).run()
