"""The specs of the manifest kinds and their building blocks (the documents: ``reconciler.model.resources``).

Single-document rules (patterns, ranges, mutually exclusive fields) live here so every construction
path enforces them. Each field's docstring is its description in the JSON Schemas (``schemas/``).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator
from pydantic.alias_generators import to_camel

from reconciler.model.deployment_rules import shape_rules, shape_warnings
from reconciler.model.duration import Duration
from reconciler.model.fields import (
    AcceleratorType,
    BaseModelName,
    DeploymentShapeName,
    Frozen,
    InactivityTimeout,
    RemoteId,
    TrainingShapeName,
    Transition,
    rule_error,
)
from reconciler.model.paths import ignore_changes_rules
from reconciler.model.platform_rules import context_length_rules
from reconciler.model.stack_limits import StackBudget, StackPrices
from reconciler.model.variables import ForEach, ResourceName, Variable

# --- building blocks ----------------------------------------------------------------------------


class Metadata(Frozen):
    name: ResourceName
    """The resource's name in the stack (a DNS label): its address is Kind/name, and remote ids derive from
    it.
    """
    labels: dict[str, str] = Field(default_factory=dict)
    """Free-form key/value labels, kept in the state (not sent to the platform)."""
    for_each: ForEach = Field(default=None, exclude=True)  # expanded by the loader (issue 16)


class Accelerator(Frozen):
    """Explicit hardware, instead of a shape."""

    type: AcceleratorType
    """The accelerator type, as the platform names it (e.g. NVIDIA_H200_141GB)."""
    count: int = Field(ge=1)
    """Accelerators per node (trainer) or per replica (deployment)."""


class Timeouts(Frozen):
    """Per-operation time limits for apply (seconds; YAML also takes 90s, 30m, 2h)."""

    create: Duration | None = None
    """How long apply waits for a create (or replace, resume) to be ready; default: the kind's."""
    update: Duration | None = None
    """How long apply waits for an in-place update to settle; default: the kind's."""
    delete: Duration | None = None
    """How long apply and destroy wait for a delete to finish; default: the kind's."""


class TrainerLifecycle(Frozen):
    """What fwctl may do to the trainer job: destroy, replace, and which drift to ignore."""

    on_destroy: Literal["delete", "retain"] = "delete"
    """On destroy or removal from the manifests: delete the job, or retain it (forgotten, kept running,
    recorded as retained).
    """
    prevent_destroy: bool = False
    """Refuse any plan that would delete or replace this trainer."""
    ignore_changes: tuple[str, ...] = Field(default=(), strict=False)
    """Fields (spec paths, e.g. learningRate) whose drift and manifest changes the plan ignores."""
    create_before_destroy: bool = False
    """On a replace, create the new job and re-point what it serves before deleting the old one (both jobs
    hold GPUs meanwhile). Default: the old job is deleted first and serving pauses.
    """


class DeploymentLifecycle(Frozen):
    """What fwctl may do to the deployment: destroy, and which drift to ignore."""

    on_destroy: Literal["scaleToZero", "delete", "retain"] = "scaleToZero"
    """On destroy or removal from the manifests: scale to zero replicas (parked, costs nothing), delete, or
    retain as is.
    """
    prevent_destroy: bool = False
    """Refuse any plan that would delete or replace this deployment."""
    ignore_changes: tuple[str, ...] = Field(default=(), strict=False)
    """Fields (spec paths, e.g. replicas.max) whose drift and manifest changes the plan ignores."""


class Replicas(Frozen):
    """The autoscaling bounds of a deployment."""

    min: int = Field(default=1, ge=0)
    """Fewest replicas; 0 lets the platform scale to zero when idle (the next request waits for a replica)."""
    max: int = Field(default=1, ge=0)
    """Most replicas; GPU quota is charged on this ceiling."""

    @model_validator(mode="after")
    def _min_le_max(self) -> Replicas:
        if self.min > self.max:
            raise rule_error([("min", f"replicas.min ({self.min}) must not exceed replicas.max ({self.max})")])
        return self


class HotLoad(Frozen):
    """Hot load: the deployment loads trainer snapshots without a restart."""

    enabled: bool = True
    """Create the deployment with hot load (weight sync needs it)."""
    bucket_type: Literal["FW_HOSTED", "MINIO", "S3", "NEBIUS"] = "FW_HOSTED"
    """Where snapshots are stored for hot load."""
    transition: Transition | None = None
    """How a hot load switches weights: ASYNC (serve while loading) or SYNC (pause, then switch)."""


# --- specs --------------------------------------------------------------------------------------


class StackSpec(Frozen):
    """The stack's defaults: where it runs, where its state is, what it may cost, its variables."""

    region: str | None = None
    """The default region of the stack's trainers and deployments (a platform region, e.g. US_VIRGINIA_1)."""
    endpoint: str | None = None
    """The control plane: a Fireworks API URL, or "local" for the embedded plane (FWCTL_ENDPOINT and
    --endpoint override it).
    """
    state: str | None = None
    """Where the state is kept: a path to a state file, or a postgresql:// URL (--state overrides it)."""
    prices: StackPrices | None = None
    """Overrides of the packaged price table, per accelerator type (issue 15)."""
    budget: StackBudget | None = None
    """A plan whose estimated USD/hour (at max replicas) exceeds this is refused (issue 15)."""
    variables: dict[str, Variable] = Field(default_factory=dict)
    """The stack's variables, used as ${var.NAME} in any manifest value (issue 16)."""


class TrainerSpec(Frozen):
    """A service-mode RLOR trainer job: the policy being trained."""

    base_model: BaseModelName
    """The base model to train (accounts/fireworks/models/<model>)."""
    lora_rank: int = Field(default=0, ge=0)
    """LoRA adapter rank; 0 = full-parameter training."""
    training_shape: TrainingShapeName | None = None
    """A training shape (hardware and limits validated by Fireworks), optionally pinned to a version; omit it
    to launch manually with an accelerator (needs an elevated key) or let the platform choose.
    """
    accelerator: Accelerator | None = None
    """Explicit hardware for a manual launch (no trainingShape)."""
    node_count: int | None = Field(default=None, ge=1)
    """Nodes for a manual launch (no trainingShape)."""
    learning_rate: float = Field(default=1e-5, gt=0, allow_inf_nan=False)
    """The job's learning rate; changing it replaces the trainer."""
    max_context_length: int | None = Field(default=None, ge=1)
    """Longest sequence in tokens, divisible by 16 (a manual launch; a shape fixes it)."""
    replica_count: int | None = Field(default=None, ge=1)
    """Trainer replicas (GPUs are charged per replica)."""
    region: str | None = None
    """The region to run in; default: the stack's region."""
    display_name: str | None = Field(default=None, max_length=63)
    """The job's display name; default: fwctl's ownership mark."""
    inactivity_timeout: InactivityTimeout | None = None
    """The platform pauses the job after this long without requests (at most 3h)."""
    job_id: RemoteId | None = None
    """Adopt this existing trainer job instead of creating one."""
    timeouts: Timeouts = Timeouts()
    """How long apply waits for this trainer."""
    lifecycle: TrainerLifecycle = TrainerLifecycle()
    """What fwctl may do to this trainer."""

    _SHAPE_EXCLUSIVE: ClassVar[tuple[str, ...]] = ("accelerator", "node_count", "max_context_length")

    @model_validator(mode="after")
    def _check_rules(self) -> TrainerSpec:
        rules: list[tuple[str, str]] = []
        if self.training_shape is not None:
            for name in self._SHAPE_EXCLUSIVE:
                if getattr(self, name) is not None:
                    alias = to_camel(name)
                    rules.append(
                        (
                            alias,
                            f"cannot be combined with trainingShape (the shape fixes accelerator, nodeCount "
                            f"and maxContextLength); remove {alias} or trainingShape",
                        )
                    )
        rules += context_length_rules(self.max_context_length)
        rules += ignore_changes_rules(self, self.lifecycle.ignore_changes)
        if rules:
            raise rule_error(rules)
        return self


class ReferenceTrainerSpec(Frozen):
    """The frozen reference of a policy (DPO, GRPO with a KL term)."""

    policy: ResourceName
    """Name of a Trainer in the same stack: the policy this is the reference of."""
    training_shape: TrainingShapeName | None = None
    """A forward-only shape for a separate reference job; omitted for a LoRA policy, the reference is a shared
    session on the policy.
    """
    timeouts: Timeouts = Timeouts()
    """How long apply waits for this reference."""
    lifecycle: TrainerLifecycle = TrainerLifecycle()
    """What fwctl may do to this reference's job."""

    @model_validator(mode="after")
    def _check_rules(self) -> ReferenceTrainerSpec:
        rules = ignore_changes_rules(self, self.lifecycle.ignore_changes)
        if rules:
            raise rule_error(rules)
        return self


class DeploymentSpec(Frozen):
    """A serving deployment (rollouts), usually with hot load."""

    base_model: BaseModelName
    """The base model it serves (accounts/fireworks/models/<model>)."""
    deployment_shape: DeploymentShapeName | None = None
    """A deployment shape, optionally pinned to a version, or "default" (the platform picks the base model's
    default shape).
    """
    accelerator: Accelerator | None = None
    """Explicit hardware instead of a shape (shapeless: a plan-time warning unless acceptShapelessRisk)."""
    accept_shapeless_risk: bool = False
    """Acknowledge a shapeless deployment (accelerator, no deploymentShape): silences the warning."""
    replicas: Replicas = Replicas()
    """Autoscaling bounds."""
    region: str | None = None
    """The region to run in; default: the stack's region."""
    hot_load: HotLoad = HotLoad()
    """Hot-load settings."""
    description: str | None = None
    """The deployment's description on the platform."""
    annotations: dict[str, str] = Field(default_factory=dict)
    """Annotations sent to the platform (fwctl adds its own fwctl.dev/* marks)."""
    deployment_id: RemoteId | None = None
    """Adopt or create under this id instead of <stack>-<name>."""
    timeouts: Timeouts = Timeouts()
    """How long apply waits for this deployment."""
    lifecycle: DeploymentLifecycle = DeploymentLifecycle()
    """What fwctl may do to this deployment."""

    @model_validator(mode="after")
    def _check_rules(self) -> DeploymentSpec:
        rules = shape_rules(self.deployment_shape, self.accelerator is not None, self.accept_shapeless_risk)
        rules += ignore_changes_rules(self, self.lifecycle.ignore_changes)
        if rules:
            raise rule_error(rules)
        return self

    def advisories(self) -> list[tuple[str, str]]:
        return shape_warnings(self.deployment_shape, self.accelerator is not None, self.accept_shapeless_risk)


class SyncBindingSpec(Frozen):
    """Weight sync: the deployment serves the trainer's sampler snapshots."""

    trainer: ResourceName
    """Name of a Trainer in the same stack: where the weights come from."""
    deployment: ResourceName
    """Name of a Deployment in the same stack: where they are served."""
    scope: Literal["perTrainer", "perDeployment"] = "perTrainer"
    """perTrainer: the deployment is attached to the trainer; perDeployment: the trainer is created with the
    deployment's id.
    """
    transition: Transition | None = None
    """Overrides the deployment's hotLoad.transition."""
    snapshot: str | None = Field(default=None, min_length=1)
    """Pin: a sampler snapshot the deployment must serve (its step name or full identity); unpinned, it serves
    whatever the loop loads.
    """

