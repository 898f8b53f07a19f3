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

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict

from reconciler.model.fields import (
    API_VERSION,
    MAX_INACTIVITY_TIMEOUT,
    MAX_REMOTE_ID,
    MAX_STACK_PLUS_NAME,
    Frozen,
    rule_error,
)
from reconciler.model.paths import ignorable_paths, is_ignorable
from reconciler.model.platform_rules import scope_mix_rules
from reconciler.model.specs import (
    Accelerator,
    DeploymentLifecycle,
    DeploymentSpec,
    HotLoad,
    Metadata,
    ReferenceTrainerSpec,
    Replicas,
    StackSpec,
    SyncBindingSpec,
    Timeouts,
    TrainerLifecycle,
    TrainerSpec,
)
from reconciler.model.stack_limits import StackBudget, StackPrices

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


class _Document(Frozen):
    model_config = ConfigDict(json_schema_extra=_header_required)

    #: The remote id is ``<stack>-<name>[-suffix]`` unless the spec names one (the name-length rule).
    derives_remote_id: ClassVar[bool] = True

    api_version: Literal["fwctl/v1"] = API_VERSION
    """The manifest format: fwctl/v1."""
    kind: str
    metadata: Metadata
    """The resource's name (and labels, forEach)."""

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

    def advisories(self) -> Iterable[tuple[str, str]]:
        """Risky choices the platform allows: (field under spec, message), shown as plan-time warnings."""
        return ()


class Stack(_Document):
    """Names the stack and its defaults; nothing remote. At most one per stack."""

    kind: Literal["Stack"] = "Stack"
    """The document's kind: Stack."""
    spec: StackSpec = StackSpec()
    """The stack's defaults."""



class Trainer(_Document):
    """A service-mode RLOR trainer job."""

    kind: Literal["Trainer"] = "Trainer"
    """The document's kind: Trainer."""
    spec: TrainerSpec
    """What to run."""

    def explicit_remote_id(self) -> str | None:
        return self.spec.job_id


class ReferenceTrainer(_Document):
    """The frozen reference for DPO / GRPO-with-KL: a forward-only job, or a shared LoRA session."""

    kind: Literal["ReferenceTrainer"] = "ReferenceTrainer"
    """The document's kind: ReferenceTrainer."""
    spec: ReferenceTrainerSpec
    """What to run."""

    def references(self) -> tuple[Ref, ...]:
        return (Ref("policy", "Trainer", self.spec.policy),)


class Deployment(_Document):
    """A serving deployment with hot load."""

    kind: Literal["Deployment"] = "Deployment"
    """The document's kind: Deployment."""
    spec: DeploymentSpec
    """What to serve."""

    def explicit_remote_id(self) -> str | None:
        return self.spec.deployment_id

    def advisories(self) -> Iterable[tuple[str, str]]:
        return self.spec.advisories()


class SyncBinding(_Document):
    """The weight-sync wiring trainer -> deployment."""

    derives_remote_id: ClassVar[bool] = False  # no remote resource of its own
    kind: Literal["SyncBinding"] = "SyncBinding"
    """The document's kind: SyncBinding."""
    spec: SyncBindingSpec
    """What to wire."""

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
        yield from scope_mix_rules(seen, self.address, self.spec.scope, trainer_address, deployment_address)
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
