"""Plan-time checks against the account's catalog: what apply would be refused for a static reason.

Each check reads only ``ctx.observed`` (refresh read every declared model and shape once) and
reports located problems through ``ctx.error``. A name whose read failed for another reason (a key
without the scope, an outage) is left for apply to judge; a name the platform said it does not have
is an error. The rules are the platform's create checks (``reconciler/local`` models them).
"""

from __future__ import annotations

from reconciler.kinds.base import PlanContext, Reads
from reconciler.model.plan import Action
from reconciler.model.remote import DeploymentConfig, TrainerConfig

LORA = "LORA_TRAINER"
POLICY = "POLICY_TRAINER"
FORWARD = "FORWARD_ONLY"


def read_catalog(reads: Reads, base_model: str | None, training_shape: str | None = None,
                 deployment_shape: str | None = None) -> None:
    """Have refresh read these catalog names (each once per plan, however many resources name it)."""
    if base_model:
        reads.models.add(base_model)
    if training_shape:
        reads.training_shapes.add(training_shape)
    if deployment_shape:
        reads.deployment_shapes.add(deployment_shape)


def sends(ctx: PlanContext, address: str) -> bool:
    """Does the plan send this resource's config to the platform (create / replace)? Only then can
    the catalog make apply refuse it: a resource that already runs is not re-checked."""
    change = ctx.changes.get(address)
    return change is not None and change.action in (Action.CREATE, Action.REPLACE)


def _missing(ctx: PlanContext, address: str, fld: str, noun: str, name: str | None) -> bool:
    why = ctx.observed.catalog_missing.get(name) if name else None
    if why is not None:
        ctx.error(address, fld, f"{noun} {name} {why}")
    return why is not None


def check_trainer(ctx: PlanContext, address: str, config: TrainerConfig) -> None:
    """A policy trainer: its base model, its training shape (model, mode, LoRA rank), its context."""
    observed = ctx.observed
    if _missing(ctx, address, "spec.baseModel", "base model", config.base_model):
        return
    name = config.training_shape
    if name:
        if _missing(ctx, address, "spec.trainingShape", "training shape", name):
            return
        shape = observed.training_shapes.get(name)
        if shape is None:
            return
        if shape.base_model and shape.base_model != config.base_model:
            ctx.error(address, "spec.trainingShape",
                      f"training shape {name} is for {shape.base_model}, not baseModel {config.base_model}")
            return
        mode = shape.trainer_mode or POLICY
        if config.lora_rank > 0 and mode != LORA:
            ctx.error(address, "spec.loraRank",
                      f"loraRank {config.lora_rank} needs a {LORA} shape; {name} is a {mode} shape")
        elif mode == LORA and config.lora_rank == 0:
            ctx.error(address, "spec.loraRank", f"{name} is a {LORA} shape: set loraRank > 0")
        elif mode == FORWARD:
            ctx.error(address, "spec.trainingShape",
                      f"{name} is a {FORWARD} shape (for a ReferenceTrainer); a Trainer needs {POLICY} or {LORA}")
        return
    model = observed.models.get(config.base_model)
    if model is None:
        return
    if config.lora_rank > 0 and model.supports_lora is False:
        ctx.error(address, "spec.loraRank", f"base model {config.base_model} does not support LoRA")
    limit = model.context_length
    if config.max_context_length is not None and limit and config.max_context_length > limit:
        ctx.error(address, "spec.maxContextLength",
                  f"{config.max_context_length} is more than the {limit} tokens {config.base_model} supports")


def check_reference_shape(ctx: PlanContext, address: str, config: TrainerConfig, policy: str) -> bool:
    """A separate reference's shape exists and is for its policy's base model (mode: the caller)."""
    name = config.training_shape
    if not name or _missing(ctx, address, "spec.trainingShape", "training shape", name):
        return False
    shape = ctx.observed.training_shapes.get(name)
    if shape is not None and shape.base_model and shape.base_model != config.base_model:
        ctx.error(address, "spec.trainingShape",
                  f"training shape {name} is for {shape.base_model}, not {config.base_model} (the base model "
                  f"of {policy})")
        return False
    return shape is not None


def check_deployment(ctx: PlanContext, address: str, config: DeploymentConfig) -> None:
    """A deployment: its base model, and its deployment shape (exists, serves that model)."""
    if _missing(ctx, address, "spec.baseModel", "base model", config.base_model):
        return
    name = config.deployment_shape
    if not name or _missing(ctx, address, "spec.deploymentShape", "deployment shape", name):
        return
    shape = ctx.observed.deployment_shapes.get(name)
    if shape is not None and shape.base_model and shape.base_model != config.base_model:
        ctx.error(address, "spec.deploymentShape",
                  f"deployment shape {name} serves {shape.base_model}, not baseModel {config.base_model}")
