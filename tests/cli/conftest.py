"""CLI fixtures: the real `fwctl` executable against the embedded local control plane (in-process)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "manifests" / "examples"


@dataclass
class EmbeddedFwctl:
    """Runs `fwctl` in ``cwd`` with the embedded local control plane, sped up 1000x."""

    cwd: Path

    def __call__(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("FIREWORKS_", "FWCTL_"))}
        env.update(FWCTL_ENDPOINT="local", FWCTL_LOCAL_DB=str(self.cwd / ".fwctl" / "local.db"),
                   FWCTL_LOCAL_SPEED="1000", NO_COLOR="1")
        fwctl = shutil.which("fwctl", path=str(Path(sys.executable).parent)) or "fwctl"
        return subprocess.run([fwctl, *args], cwd=self.cwd, env=env, input=input, capture_output=True,
                              text=True, timeout=300)

    def ok(self, *args: str) -> subprocess.CompletedProcess[str]:
        result = self(*args)
        assert result.returncode == 0, f"fwctl {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
        return result


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    work = tmp_path / "work"
    shutil.copytree(EXAMPLES / "grpo", work / "grpo")
    return work


@pytest.fixture
def fwctl(workdir: Path) -> EmbeddedFwctl:
    return EmbeddedFwctl(workdir)
