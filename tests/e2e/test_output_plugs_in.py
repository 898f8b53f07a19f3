"""`fwctl output --json` plugs into the training script: its ``sdk`` section is keyword arguments the
installed fireworks-ai SDK's ``FiretitanServiceClient.from_firetitan_config`` accepts, its
``trainer_config`` / ``deploy_config`` those of the cookbook's ``TrainerConfig`` / ``DeployConfig``;
``--format env`` is the same as shell variables a POSIX shell reads back unchanged."""

from __future__ import annotations

import dataclasses
import inspect
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import EXAMPLES, LOCAL_KEY, Fwctl, LocalPlane, served_plane

# fw-ai/cookbook training/utils/config.py: the fields of TrainerConfig and DeployConfig (the cookbook
# is not installed here, so its field names are copied; the SDK's are read from the installed package).
COOKBOOK_TRAINER_CONFIG = {
    "job_id", "training_shape_id", "reference_training_shape_id", "reference_job_id", "cleanup_reference_on_close",
    "custom_image_tag", "region", "accelerator_type", "accelerator_count", "node_count", "timeout_s",
    "pending_timeout_s", "extra_args", "replica_count", "inactivity_timeout", "disable_inactivity_cleanup",
    "purpose", "preemptible", "managed_by", "skip_validations"}
COOKBOOK_DEPLOY_CONFIG = {
    "weight_sync_scope", "deployment_id", "deployment_shape", "deployment_accelerator_type",
    "hot_load_bucket_type", "hot_load_trainer_job", "enable_hot_load", "deployment_timeout_s",
    "reattach_settle_timeout_s", "deployment_extra_args", "tokenizer_model", "tokenizer_revision",
    "sample_timeout", "disable_speculative_decoding", "replica_count", "extra_values"}


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPlane]:
    with served_plane(tmp_path_factory.mktemp("plane") / "local.db", "200") as served:
        yield served


def applied(tmp_path: Path, plane: LocalPlane, example: str) -> tuple[Fwctl, dict[str, Any]]:
    work = tmp_path / "work"
    shutil.copytree(EXAMPLES / example, work / example)
    fwctl = Fwctl(work, plane.url)
    fwctl.ok("apply", "-f", example, "--auto-approve")
    return fwctl, json.loads(fwctl.ok("output", "-f", example, "--json").stdout)


def sdk_keywords() -> set[str]:
    from fireworks.training.sdk import FiretitanServiceClient
    from fireworks.training.sdk.managed import FiretitanProvisioningConfig

    params = inspect.signature(FiretitanServiceClient.from_firetitan_config).parameters
    return ({n for n, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}
            | {f.name for f in dataclasses.fields(FiretitanProvisioningConfig)})


def reconnect(sdk: dict[str, Any]) -> Any:
    """What the training script does (the managed service is lazy: nothing is provisioned here)."""
    from fireworks.training.sdk import FiretitanServiceClient

    return FiretitanServiceClient.from_firetitan_config(api_key=LOCAL_KEY, **sdk)._managed_config


def test_grpo_outputs_are_the_sdk_and_cookbook_keyword_arguments(tmp_path: Path, plane: LocalPlane) -> None:
    _, out = applied(tmp_path, plane, "grpo")
    sdk, trainer_config, deploy_config = out["sdk"], out["trainer_config"], out["deploy_config"]
    assert set(sdk) <= sdk_keywords(), set(sdk) - sdk_keywords()
    assert set(trainer_config) <= COOKBOOK_TRAINER_CONFIG and set(deploy_config) <= COOKBOOK_DEPLOY_CONFIG
    assert "api_key" not in sdk

    policy, reference, rollout = out["Trainer/policy"], out["ReferenceTrainer/reference"], out["Deployment/rollout"]
    config = reconnect(sdk)
    assert sdk["base_url"] == plane.url
    assert (config.trainer_job_id, config.reference_trainer_job_id, config.deployment_id) == (
        policy["job_id"], reference["job_id"], rollout["deployment_id"])
    assert config.base_model == "accounts/fireworks/models/qwen3-8b" and config.lora_rank == 0
    assert config.training_shape_id == "accounts/fireworks/trainingShapes/qwen3-8b-128k-h200"
    assert config.reference_training_shape_id == "accounts/fireworks/trainingShapes/qwen3-8b-128k-h200-forward"
    assert config.deployment_shape == rollout["deployment_shape"] and config.hot_load_transition_type == "SYNC"
    assert config.create_deployment is True and config.reference_required is True
    assert trainer_config == {"job_id": policy["job_id"], "reference_job_id": reference["job_id"],
                              "training_shape_id": config.training_shape_id,
                              "reference_training_shape_id": config.reference_training_shape_id}
    assert deploy_config["deployment_id"] == rollout["deployment_id"]
    assert deploy_config["weight_sync_scope"] == "per_trainer"
    assert deploy_config["hot_load_trainer_job"] == policy["job_name"]


def test_a_shared_lora_reference_and_a_stack_without_serving(tmp_path: Path, plane: LocalPlane) -> None:
    _, lora = applied(tmp_path / "dpo", plane, "dpo-lora")
    config = reconnect(lora["sdk"])
    assert config.lora_rank == 16 and config.reference_required is True
    assert config.reference_trainer_job_id is None  # shared: the SDK runs the policy with adapters disabled
    assert "reference_job_id" not in lora["trainer_config"]

    _, sft = applied(tmp_path / "sft", plane, "sft")
    config = reconnect(sft["sdk"])
    assert config.trainer_job_id == sft["Trainer/sft"]["job_id"]
    assert config.create_deployment is False and config.deployment_id is None  # the SDK must not create one
    assert sft["deploy_config"] is None


def test_format_env_reads_back_unchanged_in_a_shell(tmp_path: Path, plane: LocalPlane) -> None:
    fwctl, out = applied(tmp_path, plane, "grpo")
    env_text = fwctl.ok("output", "-f", "grpo", "--format", "env").stdout
    assert LOCAL_KEY not in env_text and "API_KEY" not in env_text  # never the key, under any name
    names = [f"FWCTL_{k.upper()}" for k in sorted(out["sdk"])]
    script = env_text + "".join(f'printf "%s\\n" "${n}"\n' for n in names) + 'printf "%s\\n" "$FIREWORKS_BASE_URL"\n'
    shown = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True).stdout.splitlines()
    expected = [("true" if v else "false") if isinstance(v, bool) else str(v) for _, v in sorted(out["sdk"].items())]
    assert shown == [*expected, plane.url]


def test_format_env_quotes_what_a_shell_would_run() -> None:
    from reconciler.render import outputs_env

    hostile = {"base_model": "a'b; touch pwned", "deployment_id": "$(touch pwned) `id` \"x\"\nnext"}
    shown = subprocess.run(["sh", "-c", outputs_env(hostile) + 'printf "%s|%s" "$FWCTL_BASE_MODEL" '
                            '"$FWCTL_DEPLOYMENT_ID"'], capture_output=True, text=True, check=True).stdout
    assert shown == "a'b; touch pwned|$(touch pwned) `id` \"x\"\nnext"
