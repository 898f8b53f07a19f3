"""Plan-time checks against the account's catalog: what apply would be refused for a static reason.

Each check reads only ``ctx.observed`` (refresh read every declared model and shape once) and
reports located problems through ``ctx.error``. A name whose read failed for another reason (a key
without the scope, an outage) is left for apply to judge; a name the platform said it does not have
is an error. The rules are the platform's create checks (``reconciler/local`` models them).
"""

from __future__ import annotations

from reconciler.kinds.base import PlanContext, Reads
from reconciler.model.deployment_rules import is_default_shape
from reconciler.model.plan import Action
from reconciler.model.remote import DeploymentConfig, TrainerConfig

#: The platform's regions: the enum of the SDK's generated types (``fireworks.types.shared.TrainingConfig
#: .region``, ``Placement.region`` and ``Deployment.region`` list the same names; ``REGION_UNSPECIFIED``
#: is the unset value, not a region). The platform exposes no per-shape or per-account region list
#: (the docs' "Regions" page lists hardware per region by hand), so this is the static truth a plan
#: checks; a region the account's quota does not cover is left for apply to report. The local plane
#: (``reconciler/local/catalog.json``) accepts exactly these names and refuses any other the same way.
REGIONS = frozenset({
    "US_IOWA_1", "US_VIRGINIA_1", "US_VIRGINIA_2", "US_ILLINOIS_1", "AP_TOKYO_1", "EU_LONDON_1", "US_ARIZONA_1",
    "US_TEXAS_1", "US_ILLINOIS_2", "EU_FRANKFURT_1", "US_TEXAS_2", "EU_PARIS_1", "EU_HELSINKI_1", "US_NEVADA_1",
    "EU_ICELAND_1", "EU_ICELAND_2", "US_WASHINGTON_1", "US_WASHINGTON_2", "EU_ICELAND_DEV_1", "US_WASHINGTON_3",
    "US_ARIZONA_2", "AP_TOKYO_2", "US_CALIFORNIA_1", "US_MISSOURI_1", "US_UTAH_1", "US_TEXAS_3", "US_ARIZONA_3",
    "US_GEORGIA_1", "US_GEORGIA_2", "US_WASHINGTON_4", "US_GEORGIA_3", "NA_BRITISHCOLUMBIA_1", "US_GEORGIA_4",
    "EU_ICELAND_3", "US_OHIO_1", "US_NEWYORK_1",
})
#: Multi-regions a deployment's placement may name on the platform; fwctl sends ``placement.region``,
#: which takes a single region only.
MULTI_REGIONS = frozenset({"GLOBAL", "US", "EUROPE", "APAC"})

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
    if deployment_shape and not is_default_shape(deployment_shape):  # default: the platform picks at create
        reads.deployment_shapes.add(deployment_shape)


def sends(ctx: PlanContext, address: str) -> bool:
    """Does the plan send this resource's config to the platform (create / replace)? Only then can
    the catalog make apply refuse it: a resource that already runs is not re-checked."""
    change = ctx.changes.get(address)
    return change is not None and change.action in (Action.CREATE, Action.REPLACE)


def check_region(ctx: PlanContext, address: str, region: str | None) -> bool:
    """A declared region (the resource's, else the stack's default) is one of the platform's."""
    if not region or region in REGIONS:
        return True
    import difflib

    close = difflib.get_close_matches(region.upper(), sorted(REGIONS), n=1)
    hint = f"did you mean {close[0]}? " if close else ""
    if region.upper() in MULTI_REGIONS:
        hint = f"{region} is a multi-region, and fwctl places resources in one region; "
    ctx.error(address, "spec.region", f"region {region} is not a Fireworks region ({hint}regions are named like "
              "US_VIRGINIA_1, EU_FRANKFURT_1, AP_TOKYO_1)")
    return False


def _missing(ctx: PlanContext, address: str, fld: str, noun: str, name: str | None) -> bool:
    why = ctx.observed.catalog_missing.get(name) if name else None
    if why is not None:
        ctx.error(address, fld, f"{noun} {name} {why}")
    return why is not None


def check_trainer(ctx: PlanContext, address: str, config: TrainerConfig) -> None:
    """A policy trainer: its base model, its training shape (model, mode, LoRA rank), its context."""
    observed = ctx.observed
    check_region(ctx, address, config.region)
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


def training_pinned(ctx: PlanContext, deployment_shape: str | None) -> bool:
    """Is this deployment shape (parent or version) one a training shape read by this plan pins? The
    platform then needs ``forTraining: true`` (cookbook rl-hotload: "required for deployment shape
    versions pinned by training shapes")."""
    if not deployment_shape:
        return False
    serving = ctx.observed.deployment_shapes.get(deployment_shape)
    if serving is not None and serving.pinned_by:  # the platform says so (a training shape version pins it)
        return True
    for version in ctx.observed.training_shapes.values():
        pinned = version.deployment_shape_version or ""
        if pinned and deployment_shape in (pinned, pinned.split("/versions/")[0]):
            return True
    return False


def check_deployment(ctx: PlanContext, address: str, config: DeploymentConfig) -> None:
    """A deployment: its region, its base model, and its deployment shape (exists, serves that model)."""
    check_region(ctx, address, config.region)
    if _missing(ctx, address, "spec.baseModel", "base model", config.base_model):
        return
    name = config.deployment_shape
    if not name or is_default_shape(name) or _missing(ctx, address, "spec.deploymentShape", "deployment shape", name):
        return
    shape = ctx.observed.deployment_shapes.get(name)
    if shape is not None and shape.base_model and shape.base_model != config.base_model:
        ctx.error(address, "spec.deploymentShape",
                  f"deployment shape {name} serves {shape.base_model}, not baseModel {config.base_model}")
