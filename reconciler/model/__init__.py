"""fwctl's data: frozen pydantic models for manifests (and, later, plans and state) plus error data.

Imports nothing else of fwctl's; everything above builds on it.
"""

from __future__ import annotations

from reconciler.model.problems import ManifestError, Problem
from reconciler.model.resources import (
    API_VERSION,
    KINDS,
    RESOURCE_KINDS,
    Accelerator,
    Deployment,
    DeploymentLifecycle,
    DeploymentSpec,
    Document,
    HotLoad,
    Metadata,
    ReferenceTrainer,
    ReferenceTrainerSpec,
    Replicas,
    Resource,
    Stack,
    StackSpec,
    SyncBinding,
    SyncBindingSpec,
    Timeouts,
    Trainer,
    TrainerLifecycle,
    TrainerSpec,
)

__all__ = [
    "API_VERSION",
    "KINDS",
    "RESOURCE_KINDS",
    "Accelerator",
    "Deployment",
    "DeploymentLifecycle",
    "DeploymentSpec",
    "Document",
    "HotLoad",
    "ManifestError",
    "Metadata",
    "Problem",
    "ReferenceTrainer",
    "ReferenceTrainerSpec",
    "Replicas",
    "Resource",
    "Stack",
    "StackSpec",
    "SyncBinding",
    "SyncBindingSpec",
    "Timeouts",
    "Trainer",
    "TrainerLifecycle",
    "TrainerSpec",
]
