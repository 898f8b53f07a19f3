"""Trainer: a service-mode RLOR trainer job (``rlorTrainerJobs``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

from reconciler.kinds._catalog import check_trainer, read_catalog, sends
from reconciler.kinds._gpus import job_gpus
from reconciler.kinds._job_orphans import job_orphans
from reconciler.kinds._jobs import JobKind, JobSettings, display_name
from reconciler.kinds._replace import job_gone
from reconciler.kinds.base import Known, Orphan, PlanContext, Poll, Reads, declared_settings
from reconciler.model.health import ResourceHealth
from reconciler.model.remote import DeploymentInfo, Observed, TrainerConfig, TrainerJob
from reconciler.model.resources import SyncBinding, Trainer

if TYPE_CHECKING:
    from reconciler.model.prices import PriceTable
    from reconciler.provider.base import Provider



class TrainerKind(JobKind):
    name: ClassVar[str] = "Trainer"
    model = Trainer
    phase: ClassVar[int] = 0
    order: ClassVar[int] = 0
    gpus = job_gpus

    def reads(self, res: Trainer, known: Known, reads: Reads) -> None:
        if res.spec.job_id:
            reads.trainers.add(res.spec.job_id)
        else:
            self.add_fresh_id_reads(res.address, res.metadata.name, known, reads)
        read_catalog(reads, res.spec.base_model, res.spec.training_shape)

    def assign_id(self, res: Trainer, ctx: PlanContext) -> None:
        ctx.ids[res.address] = self.job_id(res.address, res.metadata.name, res.spec.job_id, ctx)

    def config(self, res: Trainer, ctx: PlanContext) -> TrainerConfig:
        spec = res.spec
        hot_load_deployment = None
        for binding in ctx.declared(SyncBinding):
            if binding.spec.trainer == res.metadata.name and binding.spec.scope == "perDeployment":
                hot_load_deployment = ctx.ids.get(f"Deployment/{binding.spec.deployment}")
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
            region=spec.region or ctx.stack_region,
            display_name=spec.display_name or display_name(ctx.stack, res.metadata.name),
            inactivity_timeout=spec.inactivity_timeout,
            forward_only=False,
            hot_load_deployment_id=hot_load_deployment,
        )

    def plan(self, res: Trainer, ctx: PlanContext) -> None:
        job_id = ctx.ids[res.address]
        assert job_id is not None
        self.plan_job(ctx, res.address, self.config(res, ctx), job_id, res.spec.job_id is not None,
                      res.spec.lifecycle.ignore_changes, JobSettings(**declared_settings(res)))

    def check_catalog(self, res: Trainer, ctx: PlanContext) -> None:
        if sends(ctx, res.address):
            check_trainer(ctx, res.address, self.config(res, ctx))

    def health(self, address: str, res: Trainer | None, known: Known, observed: Observed,
               probes: Mapping[str, str | None], results: Mapping[str, ResourceHealth]) -> ResourceHealth:
        held = known.held.get(address)  # a job still being created is on its way: its pending id counts
        job_id = self.known_remote_id(address, res, known) or (held.pending_create if held else None)
        return self.job_health(address, job_id, observed, probes)

    def orphans(self, stack: str, referenced: set[str], trainers: list[TrainerJob],
                deployments: list[DeploymentInfo], now: datetime,
                names: frozenset[str] | None = None, prices: PriceTable | None = None) -> list[Orphan]:
        # Every trainer job fwctl created, policies and separate references alike.
        return job_orphans(stack, referenced, trainers, now, names, prices)

    async def delete_orphan(self, provider: Provider, remote_id: str, poll: Poll) -> None:
        await provider.delete_trainer_job(remote_id)
        await job_gone(provider, poll, remote_id, self.default_timeout)
