"""Pipeline hygiene, through the `fwctl` executable against `fwctl local serve`: exit codes a pipeline
can branch on, one flag spelling across commands, Ctrl-C, singular/plural in summaries."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import Fwctl, LocalPlane, served_plane
from tests.e2e.test_lifecycle import edit, wait_for
from tests.e2e.test_status import spawn

STACK = "grpo-qwen3-8b"


@pytest.fixture
def slow_plane(tmp_path: Path) -> Iterator[LocalPlane]:
    """A plane at a tenth of real speed: a deleted deployment stays DELETING for 20 s."""
    with served_plane(tmp_path / "slow.db", "0.1") as plane:
        yield plane


def test_orphans_detailed_exitcode_and_deleting_deployments(slow_plane: LocalPlane, workdir: Path) -> None:
    fwctl = Fwctl(workdir, slow_plane.url)
    clean = fwctl("orphans", "-f", "grpo", "--detailed-exitcode")
    assert clean.returncode == 0 and "No orphans" in clean.stdout, clean.stdout + clean.stderr

    # a deployment fwctl made for this stack that no state references: leaked spend, exit 2
    leaked = "grpo-qwen3-8b-leaked"
    deployments = f"/v1/accounts/{slow_plane.account}/deployments"
    slow_plane.client.post(deployments, params={"deploymentId": leaked}, json={
        "baseModel": "accounts/fireworks/models/qwen3-8b",
        "deploymentShape": "accounts/fireworks/deploymentShapes/rft-qwen3-8b",
        "minReplicaCount": 1, "maxReplicaCount": 1, "enableHotLoad": True, "hotLoadBucketType": "FW_HOSTED",
        "forTraining": True,  # the shape is pinned by a training shape
        "annotations": {"fwctl.dev/stack": STACK, "fwctl.dev/address": "Deployment/old"},
        "displayName": f"fwctl:{STACK}/old",  # the mark a read returns (annotations are not returned)
    }).raise_for_status()
    found = fwctl("orphans", "-f", "grpo", "--detailed-exitcode", "--grace", "0s")  # created just now
    assert found.returncode == 2, found.stdout + found.stderr
    assert leaked in found.stdout and "\n1 orphan burning" in found.stdout, found.stdout  # singular
    as_json = json.loads(fwctl.ok("orphans", "-f", "grpo", "--json", "--grace", "0s").stdout)
    as_format = json.loads(fwctl.ok("orphans", "--file", "grpo", "--format", "json", "--grace", "0s").stdout)
    assert [o["remote_id"] for o in as_json] == [o["remote_id"] for o in as_format] == [leaked]

    # deleted (by hand, or by `orphans --delete`): while it is DELETING it is no orphan any more
    slow_plane.client.delete(f"{deployments}/{leaked}").raise_for_status()
    assert (slow_plane.deployment(leaked) or {}).get("state") == "DELETING"
    after = fwctl("orphans", "-f", "grpo", "--detailed-exitcode", "--grace", "0s")
    assert (slow_plane.deployment(leaked) or {}).get("state") == "DELETING"  # still, while fwctl looked
    assert after.returncode == 0 and "No orphans" in after.stdout, after.stdout + after.stderr


def test_one_flag_spelling(fwctl: Fwctl, workdir: Path) -> None:
    reads_manifests = ["validate", "plan", "apply", "destroy", "status", "show", "output", "import", "orphans",
                       "force-unlock", "state list", "state show", "state rm", "state history", "state pull",
                       "state push", "state migrate"]
    machine_output = ["validate", "plan", "status", "show", "output", "orphans", "state history"]
    for command in reads_manifests:
        help_text = fwctl.ok(*command.split(), "--help").stdout
        assert "-f, --file PATH" in help_text, f"fwctl {command} --help:\n{help_text}"
        assert "--filename" not in help_text, f"fwctl {command} --help:\n{help_text}"
    for command in machine_output:
        help_text = fwctl.ok(*command.split(), "--help").stdout
        assert "--format [" in help_text and "--json" in help_text, f"fwctl {command} --help:\n{help_text}"
        assert "-o, --output" not in help_text, f"fwctl {command} --help:\n{help_text}"

    # the new spellings, and the old ones still accepted
    for args in (["--file", "grpo", "--format", "json"], ["-f", "grpo", "--json"], ["--filename", "grpo", "-o", "json"],
                 ["-f", "grpo", "--output", "json"]):
        report = json.loads(fwctl.ok("validate", *args).stdout)
        assert report["valid"] is True, (args, report)
    conflict = fwctl("validate", "-f", "grpo", "--json", "--format", "text")
    assert conflict.returncode == 2 and "conflicts" in conflict.stderr

    # `fwctl output` with no state yet: exit 1, one line saying so
    none = fwctl("output", "-f", "grpo", "--format", "json")
    assert none.returncode == 1, none.stdout + none.stderr
    lines = none.stderr.strip().splitlines()
    assert len(lines) == 1 and "no state" in lines[0] and "Traceback" not in none.stderr, none.stderr


def test_sigint_exits_130_and_leaves_a_consistent_state(fwctl: Fwctl, local_plane: LocalPlane,
                                                        workdir: Path) -> None:
    # trainers wait for capacity (10 s at this speed): the apply is waiting on them when Ctrl-C comes
    local_plane.admin("POST", "/_local/v1/faults", {"kind": "capacity", "pendingSeconds": 250})
    apply = spawn(fwctl, "apply", "-f", "grpo", "--auto-approve")
    try:
        wait_for(lambda: len(local_plane.trainers()) == 2, "both trainer jobs created", timeout=120)
    finally:
        apply.send_signal(signal.SIGINT)
        _, stderr = apply.communicate(timeout=60)
    assert apply.returncode == 130, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("interrupted") and "Traceback" not in stderr, stderr

    # the lock is released and the state records the jobs being created: plan neither waits nor duplicates
    assert not (workdir / ".fwctl" / "state.json.lock").exists()
    state = json.loads((workdir / ".fwctl" / "state.json").read_text())
    recorded = {r["pending"]["remote_id"] if r.get("pending") else r["remote_id"]
                for a, r in state["resources"].items() if a.startswith(("Trainer/", "ReferenceTrainer/"))}
    assert recorded == {t["name"].split("/")[-1] for t in local_plane.trainers()}
    plan = fwctl("plan", "-f", "grpo", "--detailed-exitcode")
    assert plan.returncode == 2 and "Traceback" not in plan.stderr, plan.stdout + plan.stderr

    # the rest carried out; then one change, counted in the singular
    local_plane.admin("DELETE", "/_local/v1/faults")
    fwctl.ok("apply", "-f", "grpo", "--auto-approve")
    assert {t["name"].split("/")[-1] for t in local_plane.trainers()} == recorded  # the same jobs, no duplicates
    edit(workdir / "grpo" / "20-serving.yaml", "description: GRPO rollout serving", "description: GRPO rollout")
    one = fwctl.ok("apply", "-f", "grpo", "--auto-approve")
    assert "Apply complete: 1 change carried out." in one.stdout, one.stdout
