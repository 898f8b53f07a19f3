"""`--parallelism` bounds the mutating requests in flight, not the resources waiting to be ready.

Against its own `fwctl local serve` at a low speed (a deployment boots in seconds, not tenths of
one), so that "every create was issued before the first deployment was ready" is read off the
platform's own records (each deployment's createTime and the plane's emulated boot time), not off
a clock in the test.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from reconciler.local._lifecycle import DEPLOYMENT_CREATING_S
from tests.e2e.conftest import Fwctl, LocalPlane, served_plane

SPEED = 2.0  # a deployment boots in DEPLOYMENT_CREATING_S / SPEED = 3 s on the plane's clock
COUNT = 6


@pytest.fixture
def slow_plane(tmp_path: Path) -> Iterator[LocalPlane]:
    with served_plane(tmp_path / "slow.db", str(SPEED)) as plane:
        yield plane


def independent_deployments(directory: Path, count: int) -> None:
    docs = ["apiVersion: fwctl/v1\nkind: Stack\nmetadata: {name: many}\n"]
    for i in range(count):
        docs.append(
            f"apiVersion: fwctl/v1\nkind: Deployment\nmetadata: {{name: d{i}}}\nspec:\n"
            "  baseModel: accounts/fireworks/models/qwen3-4b\n"
            "  deploymentShape: accounts/fireworks/deploymentShapes/rft-qwen3-4b\n"
            "  replicas: {min: 1, max: 1}\n")
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "stack.yaml").write_text("---\n".join(docs))


def created_at(dep: dict) -> float:
    return datetime.fromisoformat(dep["createTime"].replace("Z", "+00:00")).timestamp()


def test_a_resource_waiting_to_be_ready_holds_no_slot(workdir: Path, slow_plane: LocalPlane) -> None:
    fwctl = Fwctl(workdir, slow_plane.url)
    independent_deployments(workdir / "many", COUNT)
    assert slow_plane.get("/_local/healthz")["speed"] == SPEED

    result = fwctl("apply", "-f", "many", "--auto-approve", "--parallelism", "1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Apply complete: {COUNT} changes carried out." in result.stdout

    deployments = slow_plane.deployments()
    assert sorted(d["name"].split("/")[-1] for d in deployments) == [f"many-d{i}" for i in range(COUNT)]
    assert all(d["state"] == "READY" for d in deployments), deployments
    # One create at a time (--parallelism 1), yet all of them before the first deployment was READY:
    # nobody waited for another's boot. (Holding a slot while waiting puts a whole boot between creates.)
    creates = sorted(created_at(d) for d in deployments)
    first_ready = creates[0] + DEPLOYMENT_CREATING_S / SPEED
    assert creates[-1] < first_ready, [round(c - creates[0], 3) for c in creates]


def test_parallelism_must_be_at_least_one(fwctl: Fwctl, workdir: Path) -> None:
    result = fwctl("apply", "-f", "grpo", "--auto-approve", "--parallelism", "0")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "--parallelism" in result.stderr and "Traceback" not in result.stderr
