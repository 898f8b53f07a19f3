"""Short applies exit 0, every time: nothing is left running in the background at interpreter exit.

An apply used to start a thread importing ``tinker`` (native extensions) and could end with exit
status 134 (SIGABRT) when the interpreter shut down while that import was still running. Thirty
quick applies of a one-Deployment stack against a served `fwctl local serve` (a real endpoint, so
the full trainer probe policy is in force) must all exit 0, and none imports tinker: with no
trainer to probe there is no reason to.
"""

from __future__ import annotations

from pathlib import Path

from tests.e2e.conftest import Fwctl, LocalPlane

RUNS = 30
STACK = """\
apiVersion: fwctl/v1
kind: Stack
metadata: {{name: exit-status}}
---
apiVersion: fwctl/v1
kind: Deployment
metadata: {{name: rollout}}
spec:
  baseModel: accounts/fireworks/models/qwen3-8b
  deploymentShape: accounts/fireworks/deploymentShapes/rft-qwen3-8b
  replicas: {{min: 1, max: 1}}
  description: run {run}
"""


def test_thirty_short_applies_all_exit_0_and_import_no_tinker(tmp_path: Path, local_plane: LocalPlane) -> None:
    work = tmp_path / "short"
    (work / "s").mkdir(parents=True)
    fwctl = Fwctl(work, local_plane.url, env={"PYTHONPROFILEIMPORTTIME": "1"})
    for run in range(RUNS):
        (work / "s" / "stack.yaml").write_text(STACK.format(run=run))  # a change every time
        result = fwctl("apply", "-f", "s", "--auto-approve")
        assert result.returncode == 0, f"apply {run + 1}/{RUNS} exited {result.returncode}:\n" \
            f"{result.stdout}\n{result.stderr[-2000:]}"
        assert "Apply complete" in result.stdout, result.stdout
        imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if "|" in line}
        assert "tinker" not in imported, f"apply {run + 1} imported tinker with no trainer to probe"
    deployment = local_plane.deployment("exit-status-rollout")
    assert deployment is not None and deployment.get("description") == f"run {RUNS - 1}"
