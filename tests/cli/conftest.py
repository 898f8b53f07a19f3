"""CLI fixtures: the real `fwctl` executable against the embedded local control plane (in-process)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import EXAMPLES, REPO, Fwctl, workdir

__all__ = ["EXAMPLES", "REPO", "workdir"]  # workdir: the e2e fixture, registered here too


@pytest.fixture
def fwctl(workdir: Path) -> Fwctl:
    """`fwctl` with the embedded local control plane, sped up 1000x."""
    return Fwctl(workdir, "local", env={"FWCTL_LOCAL_DB": str(workdir / ".fwctl" / "local.db"),
                                        "FWCTL_LOCAL_SPEED": "1000"})
