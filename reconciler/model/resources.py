"""The fwctl/v1 manifest kinds: Stack, Trainer, ReferenceTrainer, Deployment, SyncBinding.

All models are frozen pydantic models with ``extra="forbid"``. Python attributes are snake_case;
YAML, JSON and JSON Schema use the camelCase aliases. Single-document rules (patterns, ranges,
mutually exclusive fields) live here so every construction path enforces them; rules that need
the whole stack (duplicates, id lengths, references) are checked in :mod:`reconciler.manifest`
from what each document declares here: its references, the remote id it names, its extra graph
edges and its cross-resource rules — so validating manifests needs nothing but the model.

Rules that concern several fields at once raise one ``fwctl_rule`` error whose context carries
``rules``: a tuple of ``(field path relative to the failing model, message)`` pairs, so the
manifest loader can report each at its own line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Final, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema, model_validator
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from reconciler.model.duration import Duration, format_duration
from reconciler.model.paths import ignorable_paths, ignore_changes_rules, is_ignorable
from reconciler.model.stack_limits import StackBudget, StackPrices
from reconciler.model.variables import ForEach, ResourceName, Variable

API_VERSION: Final = "fwctl/v1"

#: Longest id the platform accepts for trainer jobs and deployments.
MAX_REMOTE_ID = 63
#: fwctl names trainer jobs ``<stack>-<name>-<6 hex>`` and deployments ``<stack>-<name>``:
#: ``len(stack) + len(name) <= 55`` keeps both within MAX_REMOTE_ID.
MAX_STACK_PLUS_NAME = MAX_REMOTE_ID - len("-") - len("-") - 6

#: Longest inactivityTimeout the platform accepts (seconds).
MAX_INACTIVITY_TIMEOUT = 3 * 3600

DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
_SEGMENT = r"[A-Za-z0-9][A-Za-z0-9._-]*"
BASE_MODEL_PATTERN = rf"^accounts/{_SEGMENT}/models/{_SEGMENT}$"
TRAINING_SHAPE_PATTERN = rf"^accounts/{_SEGMENT}/trainingShapes/{_SEGMENT}(/versions/{_SEGMENT})?$"
DEPLOYMENT_SHAPE_PATTERN = rf"^accounts/{_SEGMENT}/deploymentShapes/{_SEGMENT}(/versions/{_SEGMENT})?$"
ACCELERATOR_TYPE_PATTERN = r"^[A-Z][A-Z0-9_]*$"


def _pattern_check(pattern: str, message: str, max_length: int | None = None) -> AfterValidator:
    """A validator with a message people can act on (pydantic's would quote the regex)."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if max_length is not None and len(value) > max_length:
            raise PydanticCustomError(
                "too_long", "must have at most {max} characters (got {n})", {"max": max_length, "n": len(value)}
            )
        if not compiled.match(value):
            raise PydanticCustomError("pattern", message)
        return value

    return AfterValidator(check)


def _pattern_schema(pattern: str, max_length: int | None = None) -> WithJsonSchema:
    schema: dict[str, Any] = {"type": "string", "pattern": pattern}
    if max_length is not None:
        schema["maxLength"] = max_length
    return WithJsonSchema(schema)


_DNS_MESSAGE = "must be a DNS label: lowercase letters, digits and '-', starting and ending with a letter or digit"
_ID_MESSAGE = (
    "must be a valid platform id: lowercase letters, digits and '-', starting and ending with a letter or digit"
)
DnsLabel = Annotated[
    str,
    _pattern_check(DNS_LABEL_PATTERN, _DNS_MESSAGE, MAX_REMOTE_ID),
    _pattern_schema(DNS_LABEL_PATTERN, MAX_REMOTE_ID),
]
RemoteId = Annotated[
    str,
    _pattern_check(DNS_LABEL_PATTERN, _ID_MESSAGE, MAX_REMOTE_ID),
    _pattern_schema(DNS_LABEL_PATTERN, MAX_REMOTE_ID),
]
BaseModelName = Annotated[
    str,
    _pattern_check(BASE_MODEL_PATTERN, "must be a model name like accounts/fireworks/models/qwen3-8b"),
    _pattern_schema(BASE_MODEL_PATTERN),
]
TrainingShapeName = Annotated[
    str,
    _pattern_check(
        TRAINING_SHAPE_PATTERN,
        "must be a training shape like accounts/fireworks/trainingShapes/<shape>[/versions/<version>]",
    ),
    _pattern_schema(TRAINING_SHAPE_PATTERN),
]
DeploymentShapeName = Annotated[
    str,
    _pattern_check(
        DEPLOYMENT_SHAPE_PATTERN,
        "must be a deployment shape like accounts/fireworks/deploymentShapes/<shape>[/versions/<version>]",
    ),
    _pattern_schema(DEPLOYMENT_SHAPE_PATTERN),
]
AcceleratorType = Annotated[
    str,
    _pattern_check(ACCELERATOR_TYPE_PATTERN, "must be an accelerator type like NVIDIA_H200_141GB"),
    _pattern_schema(ACCELERATOR_TYPE_PATTERN),
]


def _at_most_3h(seconds: int) -> int:
    if seconds > MAX_INACTIVITY_TIMEOUT:
        raise PydanticCustomError(
            "too_long", "must be at most 3h (got {got})", {"got": format_duration(seconds)}
        )
    return seconds


InactivityTimeout = Annotated[Duration, AfterValidator(_at_most_3h)]
Transition = Literal["ASYNC", "SYNC"]


def rule_error(rules: list[tuple[str, str]]) -> PydanticCustomError:
    """One error for several located rule violations (field paths relative to the model)."""
    text = "; ".join(f"{field}: {message}" if field else message for field, message in rules)
    return PydanticCustomError("fwctl_rule", text.replace("{", "(").replace("}", ")"), {"rules": tuple(rules)})


class _Frozen(BaseModel):
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        strict=True,
        alias_generator=to_camel,
        populate_by_name=True,
    )


# --- building blocks ----------------------------------------------------------------------------


class Metadata(_Frozen):
    name: ResourceName
    labels: dict[str, str] = Field(default_factory=dict)
    for_each: ForEach = Field(default=None, exclude=True)  # expanded by the loader (issue 16)


class Accelerator(_Frozen):
    type: AcceleratorType
    count: int = Field(ge=1)


class Timeouts(_Frozen):
    """Per-operation time limits for apply (seconds; YAML also takes 90s, 30m, 2h)."""

    create: Duration | None = None
    update: Duration | None = None
    delete: Duration | None = None


class TrainerLifecycle(_Frozen):
    on_destroy: Literal["delete", "retain"] = "delete"
    prevent_destroy: bool = False
    ignore_changes: tuple[str, ...] = Field(default=(), strict=False)
    #: On a replace, create the new job and re-point what it serves before deleting the old one
    #: (both jobs hold GPUs meanwhile). Default: the old job is deleted first and serving pauses.
    create_before_destroy: bool = False


class DeploymentLifecycle(_Frozen):
    on_destroy: Literal["scaleToZero", "delete", "retain"] = "scaleToZero"
    prevent_destroy: bool = False
    ignore_changes: tuple[str, ...] = Field(default=(), strict=False)


class Replicas(_Frozen):
    min: int = Field(default=1, ge=0)
    max: int = Field(default=1, ge=0)

    @model_validator(mode="after")
    def _min_le_max(self) -> Replicas:
        if self.min > self.max:
            raise rule_error([("min", f"replicas.min ({self.min}) must not exceed replicas.max ({self.max})")])
        return self


class HotLoad(_Frozen):
    enabled: bool = True
    bucket_type: Literal["FW_HOSTED", "MINIO", "S3", "NEBIUS"] = "FW_HOSTED"
    transition: Transition | None = None


# --- specs --------------------------------------------------------------------------------------


class StackSpec(_Frozen):
    region: str | None = None
    endpoint: str | None = None
    #: A path to a state file, or a postgresql:// URL.
    state: str | None = None
    #: Overrides of the packaged price table, per accelerator type (issue 15).
    prices: StackPrices | None = None
    #: A plan whose estimated USD/hour (at max replicas) exceeds this is refused (issue 15).
    budget: StackBudget | None = None
    variables: dict[str, Variable] = Field(default_factory=dict)  # ${var.NAME} (issue 16)


class TrainerSpec(_Frozen):
    base_model: BaseModelName
    #: 0 = full-parameter training.
    lora_rank: int = Field(default=0, ge=0)
    training_shape: TrainingShapeName | None = None
    accelerator: Accelerator | None = None
    node_count: int | None = Field(default=None, ge=1)
    learning_rate: float = Field(default=1e-5, gt=0, allow_inf_nan=False)
    max_context_length: int | None = Field(default=None, ge=1)
    replica_count: int | None = Field(default=None, ge=1)
    region: str | None = None
    display_name: str | None = Field(default=None, max_length=63)
    inactivity_timeout: InactivityTimeout | None = None
    job_id: RemoteId | None = None
    timeouts: Timeouts = Timeouts()
    lifecycle: TrainerLifecycle = TrainerLifecycle()

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
        rules += ignore_changes_rules(self, self.lifecycle.ignore_changes)
        if rules:
            raise rule_error(rules)
        return self


class ReferenceTrainerSpec(_Frozen):
    #: Name of a Trainer in the same stack.
    policy: ResourceName
    #: A forward-only shape; omitted for a LoRA policy, the reference is a shared session.
    training_shape: TrainingShapeName | None = None
    timeouts: Timeouts = Timeouts()
    lifecycle: TrainerLifecycle = TrainerLifecycle()

    @model_validator(mode="after")
    def _check_rules(self) -> ReferenceTrainerSpec:
        rules = ignore_changes_rules(self, self.lifecycle.ignore_changes)
        if rules:
            raise rule_error(rules)
        return self


class DeploymentSpec(_Frozen):
    base_model: BaseModelName
    deployment_shape: DeploymentShapeName | None = None
    accelerator: Accelerator | None = None
    accept_shapeless_risk: bool = False
    replicas: Replicas = Replicas()
    region: str | None = None
    hot_load: HotLoad = HotLoad()
    description: str | None = None
    annotations: dict[str, str] = Field(default_factory=dict)
    deployment_id: RemoteId | None = None
    timeouts: Timeouts = Timeouts()
    lifecycle: DeploymentLifecycle = DeploymentLifecycle()

    @model_validator(mode="after")
    def _check_rules(self) -> DeploymentSpec:
        rules: list[tuple[str, str]] = []
        if self.deployment_shape is not None and self.accelerator is not None:
            rules.append(("accelerator", "cannot be combined with deploymentShape; use one or the other"))
        elif self.deployment_shape is None and self.accelerator is None:
            rules.append(
                (
                    "deploymentShape",
                    "a Deployment needs a deploymentShape, or an accelerator with acceptShapelessRisk: true",
                )
            )
        elif self.deployment_shape is None and not self.accept_shapeless_risk:
            rules.append(
                ("accelerator", "an accelerator without a deploymentShape needs acceptShapelessRisk: true")
            )
        rules += ignore_changes_rules(self, self.lifecycle.ignore_changes)
        if rules:
            raise rule_error(rules)
        return self


class SyncBindingSpec(_Frozen):
    #: Name of a Trainer in the same stack.
    trainer: ResourceName
    #: Name of a Deployment in the same stack.
    deployment: ResourceName
    scope: Literal["perTrainer", "perDeployment"] = "perTrainer"
    #: Overrides the deployment's hotLoad.transition.
    transition: Transition | None = None
    #: A sampler snapshot the deployment must serve.
    snapshot: str | None = Field(default=None, min_length=1)


# --- documents ----------------------------------------------------------------------------------


def _header_required(schema: dict[str, Any], model: type[BaseModel]) -> None:
    # apiVersion and kind have defaults in Python, but a manifest document must spell them out.
    required = list(schema.get("required", []))
    schema["required"] = ["apiVersion", "kind", *[r for r in required if r not in ("apiVersion", "kind")]]


@dataclass(frozen=True)
class Ref:
    """A reference from one resource's spec field to another resource of the stack."""

    field: str  # the spec field, e.g. "policy"
    kind: str  # the kind it must name
    name: str

    @property
    def address(self) -> str:
        return f"{self.kind}/{self.name}"


class _Document(_Frozen):
    model_config = ConfigDict(json_schema_extra=_header_required)

    #: The remote id is ``<stack>-<name>[-suffix]`` unless the spec names one (the name-length rule).
    derives_remote_id: ClassVar[bool] = True

    api_version: Literal["fwctl/v1"] = API_VERSION
    kind: str
    metadata: Metadata

    @property
    def address(self) -> str:
        """``Kind/name``: unique within a stack."""
        return f"{self.kind}/{self.metadata.name}"

    def references(self) -> tuple[Ref, ...]:
        """The resources this one names in its spec (they must exist in the stack; graph edges)."""
        return ()

    def explicit_remote_id(self) -> str | None:
        """A remote id the manifest names (adoption of an existing job or deployment), if any."""
        return None

    def extra_edges(self, resources: Mapping[str, Resource]) -> Iterable[tuple[str, str]]:
        """Dependency edges beyond the references: (dependent, dependency)."""
        return ()

    def check_stack(self, resources: Mapping[str, Resource], seen: dict[str, Any]) -> Iterable[tuple[str, str, str]]:
        """Cross-resource rules: (spec field, message, first-seen address or "") per problem.

        ``seen`` is shared by every resource of this kind in one check run (for uniqueness rules);
        ``{first}`` in a message is replaced by the first-seen address and where it is declared.
        """
        return ()


class Stack(_Document):
    """Names the stack and its defaults; nothing remote. At most one per stack."""

    kind: Literal["Stack"] = "Stack"
    spec: StackSpec = StackSpec()


class Trainer(_Document):
    """A service-mode RLOR trainer job."""

    kind: Literal["Trainer"] = "Trainer"
    spec: TrainerSpec

    def explicit_remote_id(self) -> str | None:
        return self.spec.job_id


class ReferenceTrainer(_Document):
    """The frozen reference for DPO / GRPO-with-KL: a forward-only job, or a shared LoRA session."""

    kind: Literal["ReferenceTrainer"] = "ReferenceTrainer"
    spec: ReferenceTrainerSpec

    def references(self) -> tuple[Ref, ...]:
        return (Ref("policy", "Trainer", self.spec.policy),)


class Deployment(_Document):
    """A serving deployment with hot load."""

    kind: Literal["Deployment"] = "Deployment"
    spec: DeploymentSpec

    def explicit_remote_id(self) -> str | None:
        return self.spec.deployment_id


class SyncBinding(_Document):
    """The weight-sync wiring trainer -> deployment."""

    derives_remote_id: ClassVar[bool] = False  # no remote resource of its own
    kind: Literal["SyncBinding"] = "SyncBinding"
    spec: SyncBindingSpec

    def references(self) -> tuple[Ref, ...]:
        return (Ref("trainer", "Trainer", self.spec.trainer), Ref("deployment", "Deployment", self.spec.deployment))

    def extra_edges(self, resources: Mapping[str, Resource]) -> Iterable[tuple[str, str]]:
        if self.spec.scope == "perDeployment":  # the trainer is created with the deployment's id
            yield f"Trainer/{self.spec.trainer}", f"Deployment/{self.spec.deployment}"

    def check_stack(self, resources: Mapping[str, Resource], seen: dict[str, Any]) -> Iterable[tuple[str, str, str]]:
        trainer_address, deployment_address = (ref.address for ref in self.references())
        bound: dict[str, str] = seen.setdefault("bound", {})
        per_deployment: dict[str, tuple[str, str]] = seen.setdefault("perDeployment", {})
        if deployment_address in bound:
            yield ("deployment", f"{deployment_address} is already bound by {{first}}; "
                   "a deployment takes weights from one trainer", bound[deployment_address])
        else:
            bound[deployment_address] = self.address
        deployment = resources.get(deployment_address)
        if isinstance(deployment, Deployment) and not deployment.spec.hot_load.enabled:
            yield "deployment", f"{deployment_address} sets hotLoad.enabled: false; weight sync needs hot load", ""
        if self.spec.scope != "perDeployment":
            return
        trainer = resources.get(trainer_address)
        if isinstance(trainer, Trainer) and trainer.spec.job_id is not None:
            yield ("scope", f"scope perDeployment creates {trainer_address} with the deployment's id, but that "
                   "trainer sets jobId (adopts an existing job); use scope perTrainer or remove jobId", "")
        if trainer_address in per_deployment:
            first, other = per_deployment[trainer_address]
            yield ("trainer", f"{trainer_address} is already bound perDeployment to {other} by {{first}}; "
                   "a trainer is created with one deployment's id", first)
        else:
            per_deployment[trainer_address] = (self.address, deployment_address)


Resource = Trainer | ReferenceTrainer | Deployment | SyncBinding
Document = Stack | Trainer | ReferenceTrainer | Deployment | SyncBinding

#: kind -> document class, in the order kinds are documented.
KINDS: dict[str, type[Stack | Trainer | ReferenceTrainer | Deployment | SyncBinding]] = {
    "Stack": Stack,
    "Trainer": Trainer,
    "ReferenceTrainer": ReferenceTrainer,
    "Deployment": Deployment,
    "SyncBinding": SyncBinding,
}
#: kinds that become remote resources (everything but Stack).
RESOURCE_KINDS: tuple[str, ...] = ("Trainer", "ReferenceTrainer", "Deployment", "SyncBinding")

__all__ = [
    "API_VERSION",
    "KINDS",
    "MAX_INACTIVITY_TIMEOUT",
    "MAX_REMOTE_ID",
    "MAX_STACK_PLUS_NAME",
    "RESOURCE_KINDS",
    "Accelerator",
    "Deployment",
    "DeploymentLifecycle",
    "DeploymentSpec",
    "Document",
    "HotLoad",
    "Metadata",
    "Ref",
    "ReferenceTrainer",
    "ReferenceTrainerSpec",
    "Replicas",
    "Resource",
    "Stack",
    "StackBudget",
    "StackPrices",
    "StackSpec",
    "SyncBinding",
    "SyncBindingSpec",
    "Timeouts",
    "Trainer",
    "TrainerLifecycle",
    "TrainerSpec",
    "ignorable_paths",
    "is_ignorable",
    "rule_error",
]
