"""What a training script passes to reconnect to a stack fwctl applied: the keyword arguments of the
official SDK's managed service and of the cookbook's ``TrainerConfig`` / ``DeployConfig``.

    connection(doc, base_url=...) -> {"sdk": {...}, "trainer_config": {...}, "deploy_config": {...} | None}

``sdk`` goes to ``FiretitanServiceClient.from_firetitan_config(**sdk)`` (fireworks-ai training SDK:
``base_url`` is that function's own parameter, the rest are ``FiretitanProvisioningConfig`` fields).
``trainer_config`` / ``deploy_config`` are ``TrainerConfig(**...)`` / ``DeployConfig(**...)`` of
fw-ai/cookbook ``training/utils/config.py`` (``weight_sync_scope`` is the value of its
``WeightSyncScope`` enum: ``WeightSyncScope(value)``). Keys whose value is unknown or "let the
platform choose" are left out, so the SDK's own default applies. Never an API key: the SDK reads
``FIREWORKS_API_KEY`` itself. Pure: a function of the state document.
"""

from __future__ import annotations

from typing import Any

from reconciler.model.address import Address
from reconciler.model.state import ResourceState, StateDocument

#: The sections ``fwctl output --json`` adds next to the addresses (an address always holds a '/').
SECTIONS = ("sdk", "trainer_config", "deploy_config")

_SCOPES = {"perTrainer": "per_trainer", "perDeployment": "per_deployment"}


def _of_kind(doc: StateDocument, kind: str) -> dict[str, ResourceState]:
    return {a: r for a, r in doc.resources.items() if Address.parse(a).kind == kind and not r.pending_create}


def primary_trainer(doc: StateDocument, name: str | None = None) -> str | None:
    """The Trainer address a script reconnects to: the one ``name`` picks, else the trainer of the
    only SyncBinding, else the only Trainer; None when that is ambiguous or there is none."""
    trainers = _of_kind(doc, "Trainer")
    if name is not None:
        picked = [a for a in trainers if a == name or Address.parse(a).name == name]
        return picked[0] if len(picked) == 1 else None
    bound = {r.outputs.get("trainer_address") for r in _of_kind(doc, "SyncBinding").values()}
    bound.discard(None)
    if len(bound) == 1:
        only = str(next(iter(bound)))
        return only if only in trainers else None
    return next(iter(trainers)) if len(trainers) == 1 else None


def _set(target: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        target[key] = value


def connection(doc: StateDocument, *, base_url: str | None = None, trainer: str | None = None) -> dict[str, Any]:
    """The three sections for ``trainer`` (default: ``primary_trainer``); {} when there is no trainer to name."""
    address = primary_trainer(doc, trainer)
    if address is None:
        return {}
    policy = doc.resources[address]
    applied = policy.applied or {}
    sdk: dict[str, Any] = {}
    trainer_config: dict[str, Any] = {}
    _set(sdk, "base_url", base_url)
    _set(sdk, "base_model", policy.outputs.get("base_model") or applied.get("baseModel"))
    _set(sdk, "lora_rank", applied.get("loraRank"))
    _set(sdk, "training_shape_id", applied.get("trainingShape"))
    _set(sdk, "max_context_length", applied.get("maxContextLength"))
    _set(sdk, "learning_rate", applied.get("learningRate"))
    _set(sdk, "trainer_job_id", policy.remote_id)
    _set(trainer_config, "job_id", policy.remote_id)
    _set(trainer_config, "training_shape_id", applied.get("trainingShape"))

    references = [r for r in _of_kind(doc, "ReferenceTrainer").values() if address in r.depends_on]
    if references:
        reference = references[0]
        sdk["reference_required"] = True
        if reference.remote_id:  # a separate forward-only job; a shared LoRA session has none
            sdk["reference_trainer_job_id"] = reference.remote_id
            trainer_config["reference_job_id"] = reference.remote_id
            shape = (reference.applied or {}).get("trainingShape")
            _set(sdk, "reference_training_shape_id", shape)
            _set(trainer_config, "reference_training_shape_id", shape)

    deploy_config: dict[str, Any] | None = None
    bindings = [r for r in _of_kind(doc, "SyncBinding").values() if r.outputs.get("trainer_address") == address]
    deployment = doc.resources.get(str(bindings[0].outputs.get("deployment_address"))) if bindings else None
    if bindings and deployment is not None and deployment.remote_id:
        binding = bindings[0].outputs
        dep_applied = deployment.applied or {}
        shape = deployment.outputs.get("deployment_shape") or dep_applied.get("deploymentShape")
        sdk["deployment_id"] = deployment.remote_id
        _set(sdk, "deployment_shape", shape)
        _set(sdk, "hot_load_transition_type", binding.get("transition"))
        deploy_config = {"deployment_id": deployment.remote_id,
                         "weight_sync_scope": _SCOPES.get(str(binding.get("scope")), "per_trainer")}
        _set(deploy_config, "deployment_shape", shape)
        _set(deploy_config, "hot_load_bucket_type", dep_applied.get("hotLoad.bucketType"))
        if deploy_config["weight_sync_scope"] == "per_trainer":
            _set(deploy_config, "hot_load_trainer_job", policy.remote_name)
    else:
        sdk["create_deployment"] = False  # the stack serves nothing for this trainer: the SDK must not create one
    return {"sdk": sdk, "trainer_config": trainer_config, "deploy_config": deploy_config}


__all__ = ["SECTIONS", "connection", "primary_trainer"]
