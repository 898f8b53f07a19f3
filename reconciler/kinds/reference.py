"""ReferenceTrainer: the frozen reference for DPO / GRPO-with-KL.

A reference of a LoRA policy with no explicit trainingShape is a *shared session*: the policy
trainer with adapters disabled, no remote resource. Otherwise it is a separate forward-only
trainer job, launched without replicaCount; it does not wait for its policy to boot.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import ClassVar

from reconciler.kinds._catalog import check_reference_shape, read_catalog, sends
from reconciler.kinds._gpus import job_gpus
from reconciler.kinds._jobs import JobKind, JobSettings, display_name
from reconciler.kinds.base import Known, PlanContext, Reads, declared_settings
from reconciler.model.health import Health, ResourceHealth
from reconciler.model.plan import Action
from reconciler.model.remote import Observed, TrainerConfig
from reconciler.model.resources import ReferenceTrainer, Resource, Trainer


class ReferenceTrainerKind(JobKind):
    name: ClassVar[str] = "ReferenceTrainer"
    model = ReferenceTrainer
    phase: ClassVar[int] = 1
    order: ClassVar[int] = 1
    gpus = job_gpus  # a shared session has no job: its changes carry no config, so no GPUs

    def reads(self, res: ReferenceTrainer, known: Known, reads: Reads) -> None:
        read_catalog(reads, None, res.spec.training_shape)
        self.add_fresh_id_reads(res.address, res.metadata.name, known, reads)

    def created_only_edges(self, res: ReferenceTrainer, ctx: PlanContext) -> Iterable[tuple[str, str]]:
        yield res.address, f"Trainer/{res.spec.policy}"

    @staticmethod
    def policy_of(res: ReferenceTrainer, resources: Mapping[str, Resource]) -> Trainer | None:
        policy = resources.get(f"Trainer/{res.spec.policy}")
        return policy if isinstance(policy, Trainer) else None

    def config(self, res: ReferenceTrainer, policy: Trainer, ctx: PlanContext) -> TrainerConfig | None:
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
            region=policy.spec.region or ctx.stack_region,
            display_name=display_name(ctx.stack, res.metadata.name),
            forward_only=True,
        )

    def plan(self, res: ReferenceTrainer, ctx: PlanContext) -> None:
        address = res.address
        policy = self.policy_of(res, ctx.resources)
        if policy is None:
            return
        config = self.config(res, policy, ctx)
        settings = JobSettings(**declared_settings(res), shared_with=policy.address)
        if config is None:
            if address in ctx.replace:
                ctx.error(address, None, f"--replace: a shared session on {policy.address} has no remote resource "
                          f"to replace (replace {policy.address} instead)")
                return
            prior = ctx.prior.get(address)
            prior_job_id = prior.remote_id if prior else None
            if prior_job_id:
                ctx.add(address, self.name, Action.DELETE, settings, remote_id=prior_job_id,
                        before=prior.applied if prior else None,
                        reasons=(f"the reference becomes a shared session on {policy.address}; its forward-only "
                                 f"job {prior_job_id} is deleted",))
            else:
                ctx.add(address, self.name, Action.NOOP if prior else Action.CREATE, settings,
                        reasons=(f"shared with {policy.address} (LoRA adapters disabled); no remote resource",))
            return
        job_id = self.job_id(address, res.metadata.name, None, ctx)
        ctx.ids[address] = job_id
        if res.spec.training_shape:
            self.check_shape(res, policy, ctx)
        # A frozen reference does not train: its learning rate is never a reason to replace it.
        ignore = (*res.spec.lifecycle.ignore_changes, "learningRate")
        self.plan_job(ctx, address, config, job_id, False, ignore, settings)

    def check_catalog(self, res: ReferenceTrainer, ctx: PlanContext) -> None:
        policy = self.policy_of(res, ctx.resources)
        config = self.config(res, policy, ctx) if policy is not None else None
        if policy is not None and config is not None and sends(ctx, res.address):
            check_reference_shape(ctx, res.address, config, policy.address)

    def check_shape(self, res: ReferenceTrainer, policy: Trainer, ctx: PlanContext) -> None:
        shape = ctx.observed.training_shapes.get(res.spec.training_shape or "")
        if shape is None:
            return
        rank = policy.spec.lora_rank
        allowed = {"LORA_TRAINER"} if rank > 0 else {"LORA_TRAINER", "FORWARD_ONLY"}
        if shape.trainer_mode not in allowed:
            ctx.error(res.address, "spec.trainingShape",
                      f"shape {res.spec.training_shape} is a {shape.trainer_mode} shape; a reference for a "
                      f"{'LoRA' if rank else 'full-parameter'} policy needs {' or '.join(sorted(allowed))}")

    def health(self, address: str, res: ReferenceTrainer | None, known: Known, observed: Observed,
               probes: Mapping[str, str | None], results: Mapping[str, ResourceHealth]) -> ResourceHealth:
        held = known.held.get(address)  # a job still being created is on its way: its pending id counts
        job_id = self.known_remote_id(address, res, known) or (held.pending_create if held else None)
        if job_id is not None or res is None:
            return self.job_health(address, job_id, observed, probes)
        policy = f"Trainer/{res.spec.policy}"
        policy_health = results.get(policy)
        if res.spec.training_shape is not None:
            return ResourceHealth(address, self.name, Health.MISSING,
                                  "no forward-only trainer job yet (run fwctl apply)")
        if policy_health is None:
            return ResourceHealth(address, self.name, Health.MISSING, f"shared with {policy}, which is not declared")
        return ResourceHealth(address, self.name, policy_health.health,
                              f"shared with {policy} (no remote resource): {policy_health.reason}",
                              policy_health.remote_id)
