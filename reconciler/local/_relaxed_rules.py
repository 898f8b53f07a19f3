"""What the platform allows that a strict emulator would refuse (issue 13 point 4).

Sources: the fireworks-ai SDK's generated request types (``fireworks/types/deployment_create_params.py``,
``deployment_update_params.py``, ``reinforcement_fine_tuning_step_create_params.py``,
``shared_params/training_config.py``) and the training SDK (``fireworks/training/sdk/deployment.py``).

- **Shapeless deployments.** ``acceptShapelessRisk`` is "Currently accepted but not enforced": a
  create with an ``acceleratorType`` and no ``deploymentShape`` succeeds without it (the local plane
  stores the flag and nothing else depends on it). What stays refused, as the SDK documents: the
  flag together with a shape ("the server rejects the combination") and a shapeless create without
  an ``acceleratorType`` ("server has no default"); on the shape path ``precision`` comes from the
  shape like the accelerator does (an assumption: the least forgiving reading of "accelerator type,
  count, precision ... are derived from the shape").
- **deploymentShape: default.** "On create, may also be ``"default"``: the server picks a default
  validated shape version for the base model", and "on the server side, this will be replaced with
  the deployment shape version name". The platform does not publish how it picks. Assumed here: the
  base model's deployment shapes in catalog order, the latest validated version of the first one no
  training shape pins (an inference default); when every candidate is training-pinned (the packaged
  catalog's RFT shapes), the first pinned one, which then needs ``forTraining: true`` like any
  pinned version. No candidate: 400 FAILED_PRECONDITION naming the base model. ``default`` is a
  create value only: a PATCH compares it like any other immutable shape name.
- **Real body fields.** Fields the generated request types define but the local plane does not model
  are accepted: type-checked (enums against the types' values, nested objects field by field) and
  ignored. A name the types do not define is still refused with the platform's gRPC-gateway wording
  (``Invalid JSON payload received. Unknown name "x" ...``). The hot-load endpoint has no generated
  type; the SDK's own retry on "extra inputs are not permitted" shows that endpoint refuses extra
  fields, so it stays strict (``_hotload.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.local._catalog import Catalog
from reconciler.local._errors import invalid, precondition
from reconciler.local._platform_rules import pinned_deployment_versions
from reconciler.local._validate import Spec, check_enum, check_object

DEFAULT_SHAPE = "default"

PRECISIONS = (
    "PRECISION_UNSPECIFIED", "FP16", "FP8", "FP8_MM", "FP8_AR", "FP8_MM_KV_ATTN", "FP8_KV", "FP8_MM_V2", "FP8_V2",
    "FP8_MM_KV_ATTN_V2", "NF4", "FP4", "BF16", "FP4_BLOCKSCALED_MM", "FP4_MX_MOE",
)
DIRECT_ROUTE_TYPES = ("DIRECT_ROUTE_TYPE_UNSPECIFIED", "INTERNET", "GCP_PRIVATE_SERVICE_CONNECT", "AWS_PRIVATELINK")

#: DeploymentCreateParams / DeploymentUpdateParams body fields the local plane does not model.
DEPLOYMENT_ACCEPTED: dict[str, str] = {
    "activeModelVersion": "str",
    "autoscalingPolicy": "obj",
    "autoTune": "obj",
    "deploymentTemplate": "str",
    "directRouteApiKeys": "strlist",
    "directRouteType": "str",
    "disableDeploymentSizeValidation": "bool",
    "draftModel": "str",
    "draftTokenCount": "int",
    "enableAddons": "bool",
    "enableHotReloadLatestAddon": "bool",
    "enableMtp": "bool",
    "enableSessionAffinity": "bool",
    "expireTime": "str",
    "maxContextLength": "int",
    "maxWithRevocableReplicaCount": "int",
    "ngramSpeculationLength": "int",
    "precision": "str",  # stored on the shapeless path (see create_deployment)
    "pricingPlanId": "str",
    "targetModelVersion": "str",
}
DEPLOYMENT_NESTED: dict[str, Spec] = {
    "autoscalingPolicy": {"loadTargets": "obj", "scaleDownWindow": "str", "scaleToZeroWindow": "str",
                          "scaleUpWindow": "str"},
    "autoTune": {"longPrompt": "bool"},
}
DEPLOYMENT_ENUMS: dict[str, tuple[str, ...]] = {"precision": PRECISIONS, "directRouteType": DIRECT_ROUTE_TYPES}

#: ReinforcementFineTuningStepCreateParams body fields the local plane does not model.
TRAINER_ACCEPTED: dict[str, str] = {
    "awsS3Config": "obj",
    "azureBlobStorageConfig": "obj",
    "evalAutoCarveout": "bool",
    "evaluationDataset": "str",
    "lossConfig": "obj",
    "rewardWeights": "strlist",
    "rolloutDeploymentName": "str",
    "usePurpose": "str",
    "wandbConfig": "obj",
}
TRAINER_NESTED: dict[str, Spec] = {
    "awsS3Config": {"credentialsSecret": "str", "iamRoleArn": "str"},
    "azureBlobStorageConfig": {"credentialsSecret": "str", "managedIdentityClientId": "str", "tenantId": "str"},
}
#: shared TrainingConfig fields the local plane does not model.
TRAINING_CONFIG_ACCEPTED: dict[str, str] = {
    "batchSize": "int",
    "batchSizeSamples": "int",
    "samplerCheckpointSaveIntervalSteps": "int",
    "epochs": "int",
    "gradientAccumulationSteps": "int",
    "jinjaTemplate": "str",
    "learningRateWarmupSteps": "int",
    "optimizerWeightDecay": "num",
    "outputModel": "str",
    "warmStartFrom": "str",
}


def _checked(raw: Any, modelled: Spec, accepted: Mapping[str, str], nested: Mapping[str, Spec],
             enums: Mapping[str, tuple[str, ...]], where: str, keep: tuple[str, ...] = ()) -> dict[str, Any]:
    """``raw`` checked against the modelled and the accepted fields; the accepted ones the local plane
    does not model (all but ``keep``) are type-checked and dropped."""
    spec = {**accepted, **modelled}  # a field another module models keeps its own type
    body = check_object(raw, spec, where)
    for key in [k for k in body if k in accepted and k not in modelled]:
        snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in key)
        if key in nested:
            check_object(body[key], nested[key], f"{where}.{snake}")
        if key in enums:
            check_enum(body[key], enums[key], f"{where}.{snake}")
        if key not in keep:
            del body[key]
    return body


def deployment_body(raw: Any, modelled: Spec) -> dict[str, Any]:
    """A create or whole-body PATCH ``deployment``: real fields accepted, ``precision`` kept."""
    return _checked(raw, modelled, DEPLOYMENT_ACCEPTED, DEPLOYMENT_NESTED, DEPLOYMENT_ENUMS, "deployment",
                    keep=("precision", "autoscalingPolicy"))  # autoscalingPolicy: _autoscale


def trainer_body(raw: Any, modelled: Spec) -> dict[str, Any]:
    return _checked(raw, modelled, TRAINER_ACCEPTED, TRAINER_NESTED, {}, "rlor_trainer_job")


def training_config(raw: Any, modelled: Spec) -> dict[str, Any]:
    return _checked(raw, modelled, TRAINING_CONFIG_ACCEPTED, {}, {}, "rlor_trainer_job.training_config")


def shape_precision(body: Mapping[str, Any], shape_ref: str) -> None:
    """On the shape path the shape fixes the precision, as it fixes the accelerator."""
    if body.get("precision") not in (None, "", "PRECISION_UNSPECIFIED"):
        raise invalid(f"precision cannot be set with deploymentShape {shape_ref}: the shape fixes it")


def shapeless_precision(body: Mapping[str, Any]) -> str:
    value = str(body.get("precision") or "BF16")
    return "BF16" if value == "PRECISION_UNSPECIFIED" else value


def resolve_default_shape(catalog: Catalog, base_model: str) -> str:
    """The version ``deploymentShape: default`` stands for (see the module docstring)."""
    pinned = pinned_deployment_versions(catalog)
    candidates = []
    for shape in catalog.deployment_shapes.values():
        if shape.base_model != base_model:
            continue
        latest = shape.latest_validated()
        if latest is not None:
            candidates.append(latest.name)
    for name in candidates:
        if name not in pinned:
            return name
    if candidates:
        return candidates[0]
    raise precondition(f"deploymentShape default: no validated deployment shape serves {base_model}; "
                       "name a deployment shape, or create without one (acceleratorType)")
