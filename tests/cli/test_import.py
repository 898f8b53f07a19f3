"""`fwctl import` refuses a remote id the state already manages under another address."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.conftest import Fwctl

SECOND_DEPLOYMENT = """\
apiVersion: fwctl/v1
kind: Deployment
metadata: {name: rollout-copy}
spec:
  baseModel: accounts/fireworks/models/qwen3-8b
  deploymentShape: accounts/fireworks/deploymentShapes/rft-qwen3-8b
  replicas: {min: 1, max: 1}
"""


def _errors(stderr: str) -> list[str]:
    """stderr without the embedded control plane's notice: the error, one line, no traceback."""
    return [line for line in stderr.splitlines() if not line.startswith("Using the embedded local control plane")]


def _state(workdir: Path) -> bytes:
    return (workdir / ".fwctl" / "state.json").read_bytes()


def test_import_refuses_a_remote_id_managed_under_another_address(fwctl: Fwctl, workdir: Path) -> None:
    fwctl.ok("apply", "-f", "grpo", "--auto-approve")
    outputs = json.loads(fwctl.ok("output", "-f", "grpo", "--json").stdout)
    policy_job = outputs["Trainer/policy"]["job_id"]
    deployment_id = json.loads(fwctl.ok("state", "show", "-f", "grpo", "Deployment/rollout").stdout)["remote_id"]

    # a trainer job id held by Trainer/policy, imported as the (forgotten) reference trainer
    fwctl.ok("state", "rm", "-f", "grpo", "ReferenceTrainer/reference")
    before = _state(workdir)
    refused = fwctl("import", "-f", "grpo", "ReferenceTrainer/reference", policy_job)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert _errors(refused.stderr) == [f"{policy_job} is already managed as Trainer/policy"]
    assert _state(workdir) == before

    # a deployment id held by Deployment/rollout, imported under a second declared deployment
    (workdir / "grpo" / "30-copy.yaml").write_text(SECOND_DEPLOYMENT)
    refused = fwctl("import", "-f", "grpo", "Deployment/rollout-copy", deployment_id)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert _errors(refused.stderr) == [f"{deployment_id} is already managed as Deployment/rollout"]
    assert _state(workdir) == before
