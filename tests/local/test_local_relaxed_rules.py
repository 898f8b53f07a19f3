"""Issue 13 point 4: what the platform allows, the local plane allows (``reconciler/local/_relaxed_rules.py``).

- ``acceptShapelessRisk`` is "accepted but not enforced": a shapeless create succeeds without it;
- ``deploymentShape: default`` lets the platform pick the base model's shape, answered as a version name;
- every body field the SDK's generated request types define is accepted; a name they do not define
  (a typo) is still refused with the platform's wording.
"""

from __future__ import annotations

import datetime
import types
import typing
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fireworks._utils import PropertyInfo
from fireworks.types.deployment_create_params import DeploymentCreateParams
from fireworks.types.reinforcement_fine_tuning_step_create_params import (
    ReinforcementFineTuningStepCreateParams,
)
from fireworks.types.shared_params.training_config import TrainingConfig

from tests.local.conftest import (
    ACCOUNT,
    DEPLOY_SHAPE,
    LLAMA,
    POLICY_SHAPE,
    QWEN8B,
    inspect,
    trainer_body,
)

TRAINERS = f"/v1/accounts/{ACCOUNT}/rlorTrainerJobs"
DEPLOYMENTS = f"/v1/accounts/{ACCOUNT}/deployments"
# The SDK sends these as query parameters (resources/deployments.py, _create_deployment), not in the body.
DEPLOYMENT_QUERY = {"account_id", "deploymentId", "disableAutoDeploy", "disableSpeculativeDecoding",
                    "skipImageTagValidation", "skipShapeValidation", "acceptShapelessRisk", "validateOnly"}
TRAINER_QUERY = {"account_id", "rlorTrainerJobId"}


def post_deployment(api: httpx.Client, dep: str, body: dict[str, Any], **params: str) -> httpx.Response:
    payload = {"baseModel": QWEN8B, "minReplicaCount": 0, "maxReplicaCount": 1, "forTraining": True, **body}
    return api.post(DEPLOYMENTS, params={"deploymentId": dep, **params},
                    json={k: v for k, v in payload.items() if v is not None})


def error(resp: httpx.Response, status: int, grpc: str) -> str:
    assert resp.status_code == status, resp.text
    assert resp.json()["status"] == grpc, resp.text
    return str(resp.json()["message"])


# -- acceptShapelessRisk ---------------------------------------------------------------------------


def test_a_shapeless_deployment_is_created_without_accept_shapeless_risk(
        api: httpx.Client, uid: Callable[[str], str]) -> None:
    dep = uid("shapeless")
    resp = post_deployment(api, dep, {"acceleratorType": "NVIDIA_H100_80GB", "acceleratorCount": 2})
    assert resp.status_code == 200, resp.text  # before: 400 "needs acceptShapelessRisk=true"
    created = resp.json()
    assert created["deploymentShape"] == ""
    assert (created["acceleratorType"], created["acceleratorCount"]) == ("NVIDIA_H100_80GB", 2)
    assert inspect(api, f"{DEPLOYMENTS}/{dep}")["flags"]["acceptShapelessRisk"] is False


def test_what_the_platform_still_refuses_on_the_shapeless_path(api: httpx.Client, uid: Callable[[str], str]) -> None:
    both = post_deployment(api, uid("d"), {"deploymentShape": DEPLOY_SHAPE}, acceptShapelessRisk="true")
    assert "acceptShapelessRisk cannot be combined with deploymentShape" in error(both, 400, "INVALID_ARGUMENT")
    bare = post_deployment(api, uid("d"), {})  # no shape and no accelerator: the server has no default
    assert "acceleratorType is required" in error(bare, 400, "INVALID_ARGUMENT")


# -- deploymentShape: default ----------------------------------------------------------------------


def test_default_shape_resolves_to_a_validated_version_of_the_base_model(
        api: httpx.Client, uid: Callable[[str], str]) -> None:
    named = post_deployment(api, uid("named"), {"deploymentShape": DEPLOY_SHAPE})
    assert named.status_code == 200, named.text
    dep = uid("default")
    resp = post_deployment(api, dep, {"deploymentShape": "default"})
    assert resp.status_code == 200, resp.text  # before: 400 "'default' is not accounts/<a>/deploymentShapes/..."
    chosen = resp.json()["deploymentShape"]
    assert chosen.startswith(f"{DEPLOY_SHAPE}/versions/")  # the only shape serving qwen3-8b
    assert chosen == named.json()["deploymentShape"]  # its latest validated version
    got = api.get(f"{DEPLOYMENTS}/{dep}").json()
    assert got["deploymentShape"] == chosen and got["acceleratorType"] == named.json()["acceleratorType"]


def test_default_shape_for_a_model_no_shape_serves(api: httpx.Client, uid: Callable[[str], str]) -> None:
    resp = post_deployment(api, uid("d"), {"baseModel": LLAMA, "deploymentShape": "default"})
    message = error(resp, 400, "FAILED_PRECONDITION")
    assert LLAMA in message and "deploymentShape default" in message


def test_default_shape_keeps_the_rules_of_the_version_it_picks(api: httpx.Client, uid: Callable[[str], str]) -> None:
    # the chosen qwen3-8b version is pinned by a training shape: forTraining is still required
    resp = post_deployment(api, uid("d"), {"deploymentShape": "default", "forTraining": False})
    assert "forTraining" in error(resp, 400, "INVALID_ARGUMENT")


# -- real body fields ------------------------------------------------------------------------------


def _aliases(params: Any) -> dict[str, Any]:
    """The wire name -> type of every field of a generated request TypedDict."""
    out = {}
    for name, hint in typing.get_type_hints(params, include_extras=True).items():
        alias, inner = name, hint
        while typing.get_origin(inner) in (typing.Annotated, typing.Required, typing.NotRequired):
            for meta in getattr(inner, "__metadata__", ()):
                if isinstance(meta, PropertyInfo) and meta.alias:
                    alias = meta.alias
            inner = typing.get_args(inner)[0]
        out[alias] = inner
    return out


def _sample(annotation: Any) -> Any:
    """A neutral value of a field's type: the zero value, an enum's first (UNSPECIFIED) value."""
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return typing.get_args(annotation)[0]
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(annotation)
        return "2030-01-01T00:00:00Z" if datetime.datetime in args else _sample(args[0])
    if annotation is bool:
        return False
    if annotation in (int, float):
        return 0
    if annotation is str:
        return ""
    if typing.is_typeddict(annotation) or annotation is dict or origin is dict:
        return {}
    return []  # SequenceNotStr[str]


def _unknown_name(resp: httpx.Response) -> bool:
    return resp.status_code == 400 and "Unknown name" in resp.json().get("message", "")


def test_every_deployment_body_field_the_sdk_defines_is_accepted(api: httpx.Client, uid: Callable[[str], str]) -> None:
    fields = {k: v for k, v in _aliases(DeploymentCreateParams).items() if k not in DEPLOYMENT_QUERY}
    assert "precision" in fields and "autoscalingPolicy" in fields
    refused = []
    for field, annotation in fields.items():
        body = {field: _sample(annotation)}
        if field not in ("deploymentShape", "acceleratorType", "acceleratorCount", "precision"):
            body["deploymentShape"] = DEPLOY_SHAPE
        resp = post_deployment(api, uid("d"), body, acceptShapelessRisk="false")
        if _unknown_name(resp):
            refused.append(field)
    assert refused == []  # before: precision, autoscalingPolicy, enableMtp, ... were "Unknown name"


def test_every_trainer_body_field_the_sdk_defines_is_accepted(api: httpx.Client, uid: Callable[[str], str]) -> None:
    refused = []
    for field, annotation in _aliases(ReinforcementFineTuningStepCreateParams).items():
        if field in TRAINER_QUERY or field == "trainingConfig":
            continue
        resp = api.post(TRAINERS, params={"rlorTrainerJobId": uid("t"), "trainingShape": POLICY_SHAPE},
                        json=trainer_body(**{field: _sample(annotation)}))
        if _unknown_name(resp):
            refused.append(field)
    for field, annotation in _aliases(TrainingConfig).items():
        if field in ("baseModel", "region"):
            continue
        resp = api.post(TRAINERS, params={"rlorTrainerJobId": uid("t"), "trainingShape": POLICY_SHAPE},
                        json=trainer_body(trainingConfig={field: _sample(annotation)}))
        if _unknown_name(resp):
            refused.append(f"trainingConfig.{field}")
    assert refused == []  # before: lossConfig, wandbConfig, trainingConfig.batchSize, ... were "Unknown name"


@pytest.mark.parametrize(("body", "name"), [
    ({"precison": "FP8"}, "precison"),
    ({"autoscalingPolicy": {"scaleToZeroWindw": "600s"}}, "scaleToZeroWindw"),
    ({"autoTune": {"longPrompts": True}}, "longPrompts"),
])
def test_a_name_the_types_do_not_define_is_still_refused(api: httpx.Client, uid: Callable[[str], str],
                                                         body: dict[str, Any], name: str) -> None:
    resp = post_deployment(api, uid("d"), {"deploymentShape": DEPLOY_SHAPE, **body})
    assert f'Unknown name "{name}"' in error(resp, 400, "INVALID_ARGUMENT")


def test_a_typo_in_a_trainer_body_is_still_refused(api: httpx.Client, uid: Callable[[str], str]) -> None:
    resp = api.post(TRAINERS, params={"rlorTrainerJobId": uid("t"), "trainingShape": POLICY_SHAPE},
                    json=trainer_body(awsS3Config={"iamRole": "x"}))
    assert 'Unknown name "iamRole"' in error(resp, 400, "INVALID_ARGUMENT")


def test_real_fields_are_type_and_enum_checked(api: httpx.Client, uid: Callable[[str], str]) -> None:
    bad_enum = post_deployment(api, uid("d"), {"acceleratorType": "NVIDIA_H100_80GB", "precision": "FP99"})
    assert "FP99" in error(bad_enum, 400, "INVALID_ARGUMENT")
    bad_type = post_deployment(api, uid("d"), {"deploymentShape": DEPLOY_SHAPE, "enableMtp": "yes"})
    assert "enableMtp" in error(bad_type, 400, "INVALID_ARGUMENT")


def test_precision_is_kept_on_the_shapeless_path_and_fixed_by_a_shape(
        api: httpx.Client, uid: Callable[[str], str]) -> None:
    dep = uid("fp8")
    resp = post_deployment(api, dep, {"acceleratorType": "NVIDIA_H100_80GB", "precision": "FP8"})
    assert resp.status_code == 200, resp.text
    assert api.get(f"{DEPLOYMENTS}/{dep}").json()["precision"] == "FP8"
    shaped = post_deployment(api, uid("d"), {"deploymentShape": DEPLOY_SHAPE, "precision": "FP8"})
    assert "the shape fixes it" in error(shaped, 400, "INVALID_ARGUMENT")


def test_a_whole_body_patch_with_real_unmodelled_fields_is_accepted(
        api: httpx.Client, uid: Callable[[str], str]) -> None:
    dep = uid("patch")
    assert post_deployment(api, dep, {"deploymentShape": DEPLOY_SHAPE}).status_code == 200
    resp = api.patch(f"{DEPLOYMENTS}/{dep}", json={"description": "relaxed", "enableMtp": False,
                                                   "autoscalingPolicy": {"scaleToZeroWindow": "3600s"}})
    assert resp.status_code == 200, resp.text
    assert resp.json()["description"] == "relaxed"
    typo = api.patch(f"{DEPLOYMENTS}/{dep}", json={"descripton": "x"})
    assert 'Unknown name "descripton"' in error(typo, 400, "INVALID_ARGUMENT")
