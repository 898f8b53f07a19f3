"""The local plane answers in the platform's public schema, not in the form a client wrote.

The schema is the installed fireworks-ai SDK's generated REST types (``fireworks/types/``:
``ReinforcementFineTuningStep`` for RLOR trainer jobs, with ``shared/training_config.py``;
``Deployment``), read here through their pydantic ``model_fields`` and aliases, plus the few fields
the training SDK itself reads back from a deployment (``hotLoadTrainerJob``,
``hotLoadTransitionType``: ``DeploymentManager._parse_deployment_info``). Every answer the local
plane gives for a trainer job or a deployment, through every verb, must use only those fields and
validate against the types (``status.code`` a gRPC name, enums in range).
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import pytest
from fireworks.types.deployment import Deployment
from fireworks.types.reinforcement_fine_tuning_step import ReinforcementFineTuningStep
from pydantic import BaseModel

from tests.local.conftest import (
    ACCOUNT,
    LLAMA,
    create_deployment,
    create_trainer,
    inspect,
    trainer_body,
    wait_state,
)

TRAINERS = f"/v1/accounts/{ACCOUNT}/rlorTrainerJobs"
DEPLOYMENTS = f"/v1/accounts/{ACCOUNT}/deployments"
# Read back by the training SDK although the generated Deployment type does not define them.
SDK_READS = {Deployment: {"hotLoadTrainerJob", "hotLoadTransitionType"}}


def _nested(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside ``Optional[X]`` / ``X | None`` / ``List[X]``, if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType, list):
        for arg in typing.get_args(annotation):
            found = _nested(arg)
            if found is not None:
                return found
    return None


def undefined_fields(model: type[BaseModel], data: Mapping[str, Any], where: str = "") -> list[str]:
    """Paths in ``data`` that ``model`` (by alias, recursively) does not define."""
    fields = {(f.alias or name): f for name, f in model.model_fields.items()}
    extra = SDK_READS.get(model, set())
    out: list[str] = []
    for key, value in data.items():
        field = fields.get(key)
        if field is None:
            if key not in extra:
                out.append(f"{where}{key}")
            continue
        nested = _nested(field.annotation)
        if nested is not None and isinstance(value, Mapping):
            out.extend(undefined_fields(nested, value, f"{where}{key}."))
    return out


def conforms(model: type[BaseModel], answer: Mapping[str, Any]) -> None:
    assert undefined_fields(model, answer) == [], f"fields {model.__name__} does not define in {answer}"
    model.model_validate(answer)  # values too: status.code a gRPC name, enums the type lists


def test_schema_checker_catches_what_the_types_do_not_define() -> None:
    echoed = {"name": "accounts/a/rlorTrainerJobs/j", "trainingShape": "accounts/fireworks/trainingShapes/s",
              "trainingConfig": {"baseModel": "m", "acceleratorType": "NVIDIA_H200_141GB"}}
    assert undefined_fields(ReinforcementFineTuningStep, echoed) == [
        "trainingShape", "trainingConfig.acceleratorType"]
    assert undefined_fields(Deployment, {"baseModel": "m", "annotations": {}, "hotLoadTrainerJob": "t"}) == [
        "annotations"]
    with pytest.raises(ValueError):
        ReinforcementFineTuningStep.model_validate({"status": {"code": 5}})


def test_trainer_answers_are_the_public_type(api: httpx.Client, uid: Callable[[str], str]) -> None:
    job = uid("schema")
    # everything a create accepts (the SDK's full payload), so nothing is left out by omission
    extra = {"trainerReplicaCount": 2, "inactivityTimeout": "3600s", "displayName": "schema check",
             "purpose": "pilot", "managedBy": "fwctl", "extraValues": {"k": "v"}, "preemptible": True,
             "trainingConfig": {"projectionHeadDim": 8, "customImageTag": "t", "extraArgs": ["--x"]}}
    created = api.post(TRAINERS, params={"rlorTrainerJobId": job,
                                         "trainingShape": "accounts/fireworks/trainingShapes/qwen3-8b-128k-h200"},
                       json=trainer_body(**extra))
    assert created.status_code == 200, created.text
    answers = [created.json(), wait_state(api, f"{TRAINERS}/{job}", "JOB_STATE_RUNNING")]
    answers.append(next(j for j in api.get(TRAINERS).json()["rlorTrainerJobs"] if j["name"].endswith(job)))
    preempted = api.post("/_local/v1/faults", json={"kind": "preempt", "trainer": job}).json()["rlorTrainerJob"]
    assert preempted["status"]["code"] == "UNAVAILABLE"
    answers += [preempted, api.post(f"{TRAINERS}/{job}:resume").json()]
    manual = uid("schema-manual")
    body = trainer_body(LLAMA, nodeCount=1, trainingConfig={"acceleratorType": "NVIDIA_H100_80GB",
                                                            "acceleratorCount": 8})
    resp = api.post(TRAINERS, params={"rlorTrainerJobId": manual, "skipValidations": "true"}, json=body,
                    headers={"X-Api-Key": "fwctl-local-admin-key"})  # a superuser key (issue 13)
    assert resp.status_code == 200, resp.text
    answers.append(resp.json())
    for answer in answers:
        conforms(ReinforcementFineTuningStep, answer)
    # what is left out is still kept (it decides how the job runs), as the admin view shows
    record = inspect(api, f"{TRAINERS}/{job}")
    assert record["trainerReplicaCount"] == 2 and record["trainingShape"].endswith("/versions/h7wd3p0s")
    for name in (job, manual):
        assert api.delete(f"{TRAINERS}/{name}").status_code == 200
    conforms(ReinforcementFineTuningStep, api.get(f"{TRAINERS}/{job}").json())


def test_deployment_answers_are_the_public_type(api: httpx.Client, uid: Callable[[str], str]) -> None:
    job = uid("schema-t")
    create_trainer(api, job)
    dep = uid("schema-d")
    ready = create_deployment(api, dep, trainer=job, annotations={"fwctl.dev/stack": "s"},
                              hotLoadTransitionType="SYNC", displayName="fwctl:s/rollout")
    answers = [ready, next(d for d in api.get(DEPLOYMENTS).json()["deployments"] if d["name"].endswith(dep))]
    patched = api.patch(f"{DEPLOYMENTS}/{dep}", params={"updateMask": "max_replica_count,annotations"},
                        json={"maxReplicaCount": 2, "annotations": {"fwctl.dev/stack": "s", "team": "rl"}})
    assert patched.status_code == 200, patched.text
    answers.append(patched.json())
    failed = api.post("/_local/v1/faults", json={"kind": "fail", "deployment": dep}).json()["deployment"]
    assert failed["status"]["code"] == "INTERNAL"
    answers.append(failed)
    for answer in answers:
        conforms(Deployment, answer)
    assert ready["hotLoadTrainerJob"].endswith(job) and ready["hotLoadTransitionType"] == "SYNC"
    assert ready["displayName"] == "fwctl:s/rollout"  # a field of the type: returned
    assert "annotations" not in patched.json() and "forTraining" not in ready
    assert inspect(api, f"{DEPLOYMENTS}/{dep}")["annotations"] == {"fwctl.dev/stack": "s", "team": "rl"}
    assert api.delete(f"{DEPLOYMENTS}/{dep}", params={"ignoreChecks": "true"}).status_code == 200
    conforms(Deployment, api.get(f"{DEPLOYMENTS}/{dep}").json())
    api.delete(f"{TRAINERS}/{job}")
