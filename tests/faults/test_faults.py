"""Faults: `fwctl apply` against a served local control plane that misbehaves.

- 30% of requests answered 429/503 (with Retry-After) plus 200 ms latency on every request: the
  apply succeeds, shows no error, and leaves no duplicate on the platform;
- 30% of requests whose connection drops after the request took effect (a reset, to the client):
  the same;
- a trainer preempted as soon as its job appears is resumed and the apply succeeds;
- a deployment that fails during apply is reported (exit 1, Deployment/... FAILED), re-planned as a
  replacement and fixed by the next apply;
- a hot load that errors fails its change with the platform's message, exit 1, and leaves the rest of
  the stack applied.

One plane per module; every test uses its own stack name and working directory.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.crash.harness import (
    assert_no_duplicates,
    assert_no_pending,
    grpo_stack,
    ok,
    read_state,
    run,
    served_plane,
    start,
)
from tests.e2e.conftest import LocalPlane

SPEED = 25
ERROR_WORDS = re.compile(r"error|HTTP [45]\d\d|injected|traceback|retry|failed", re.IGNORECASE)


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPlane]:
    with served_plane(tmp_path_factory.mktemp("plane"), SPEED) as served:
        yield served


@pytest.fixture(autouse=True)
def no_faults_left(plane: LocalPlane) -> Iterator[None]:
    plane.admin("DELETE", "/_local/v1/faults")
    yield
    plane.admin("DELETE", "/_local/v1/faults")


def _stack(tmp_path: Path, name: str) -> Path:
    work = tmp_path / name
    work.mkdir()
    grpo_stack(work / "m", name)
    return work


def _wait_for(what: str, found: Callable[[], str | None], timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        value = found()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _converged(plane: LocalPlane, work: Path, stack: str) -> None:
    assert_no_duplicates(plane, stack, ["policy", "reference"], ["rollout"], assert_no_pending(work))
    plan = run(work, plane.url, "plan", "-f", "m", "--detailed-exitcode")
    assert plan.returncode == 0, f"the plan is not empty:\n{plan.stdout}\n{plan.stderr}"


@pytest.mark.parametrize(("label", "faults"), [
    ("bursts", [{"kind": "errors", "rate": 0.3, "statuses": [429, 503]}, {"kind": "latency", "ms": 200}]),
    ("resets", [{"kind": "errors", "rate": 0.3, "statuses": [0]}]),
])
def test_apply_rides_out_flaky_api(plane: LocalPlane, tmp_path: Path, label: str, faults: list[dict]) -> None:
    stack = f"flaky-{label}"
    work = _stack(tmp_path, stack)
    before = plane.get("/_local/v1/stats")["injectedErrors"]
    for fault in faults:
        plane.admin("POST", "/_local/v1/faults", fault)
    began = time.monotonic()
    result = run(work, plane.url, "apply", "-f", "m", "--auto-approve")
    elapsed = time.monotonic() - began
    assert result.returncode == 0, f"apply under {label} failed:\n{result.stdout}\n{result.stderr}"
    shown = ERROR_WORDS.findall(result.stdout + result.stderr)
    assert not shown, f"apply under {label} showed errors to the user ({shown}):\n{result.stdout}\n{result.stderr}"
    assert result.stderr.strip() == "", result.stderr
    _converged(plane, work, stack)  # the plan too rides out the faults
    # a GRPO apply and plan send ~30 API requests: at 30%, some must have been hit
    after = plane.get("/_local/v1/stats")["injectedErrors"]
    injected = sum(after.values()) - sum(before.values())
    assert injected >= 1, f"no fault was injected: {before} -> {after}"
    print(f"apply under {label}: {elapsed:.1f}s, {injected} injected faults")


def _job(plane: LocalPlane, stack: str, name: str) -> str | None:
    pattern = re.compile(rf"{re.escape(stack)}-{re.escape(name)}-[0-9a-f]{{6}}")
    return next((t["name"].split("/")[-1] for t in plane.trainers() if pattern.fullmatch(t["name"].split("/")[-1])),
                None)


def test_trainer_preempted_during_apply_is_resumed(plane: LocalPlane, tmp_path: Path) -> None:
    stack = "preempted"
    work = _stack(tmp_path, stack)
    proc = start(work, plane.url, "apply", "-f", "m", "--auto-approve")
    job = _wait_for("the policy job to appear", lambda: _job(plane, stack, "policy"))
    plane.admin("POST", "/_local/v1/faults", {"kind": "preempt", "trainer": job})
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, f"apply did not survive the preemption:\n{stdout}\n{stderr}"
    assert re.search(r"Trainer/policy: create: resuming", stdout), stdout
    trainer = plane.trainer(job)
    assert trainer is not None and trainer["state"] == "JOB_STATE_RUNNING"
    assert read_state(work)["resources"]["Trainer/policy"]["remote_id"] == job  # the same job, resumed
    _converged(plane, work, stack)


def test_failed_deployment_is_reported_and_replanned(plane: LocalPlane, tmp_path: Path) -> None:
    stack = "failing"
    work = _stack(tmp_path, stack)
    dep_id = f"{stack}-rollout"
    proc = start(work, plane.url, "apply", "-f", "m", "--auto-approve")
    _wait_for("the deployment to appear", lambda: dep_id if plane.deployment(dep_id) else None)
    plane.admin("POST", "/_local/v1/faults", {"kind": "fail", "deployment": dep_id,
                                              "message": "replicas crashed: CUDA error 700"})
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 1, f"apply of a failed deployment exited {proc.returncode}:\n{stdout}\n{stderr}"
    assert "Traceback" not in stderr
    assert re.search(r"Deployment/rollout: .*FAILED.*replicas crashed: CUDA error 700", stderr), stderr
    # the trainers are applied regardless
    state = read_state(work)["resources"]
    assert state["Trainer/policy"]["remote_id"] and not state["Trainer/policy"].get("pending")

    plan = run(work, plane.url, "plan", "-f", "m", "--detailed-exitcode")
    assert plan.returncode == 2, plan.stdout + plan.stderr
    assert "Deployment/rollout must be replaced" in plan.stdout, plan.stdout
    ok(work, plane.url, "apply", "-f", "m", "--auto-approve")
    dep = plane.deployment(dep_id)
    assert dep is not None and dep["state"] == "READY"
    assert dep["hotLoadTrainerJob"].endswith("/" + str(state["Trainer/policy"]["remote_id"]))
    _converged(plane, work, stack)


def test_hot_load_error_fails_only_its_change(plane: LocalPlane, tmp_path: Path) -> None:
    stack = "hotfail"
    work = _stack(tmp_path, stack)
    serving = work / "m" / "20-serving.yaml"
    kept = tmp_path / "20-serving.yaml"
    shutil.move(serving, kept)
    ok(work, plane.url, "apply", "-f", "m", "--auto-approve")  # the trainers first
    job = str(read_state(work)["resources"]["Trainer/policy"]["remote_id"])
    plane.admin("POST", f"/_local/v1/accounts/{plane.account}/rlorTrainerJobs/{job}/snapshots", {"name": "step-0100"})
    # then the deployment and a binding pinned to the snapshot; the platform fails that hot load
    serving.write_text(kept.read_text().rstrip("\n") + "\n  snapshot: step-0100\n")
    message = "hot load failed: checkpoint step-0100 is corrupt (shard 3 checksum mismatch)"
    plane.admin("POST", "/_local/v1/faults", {"kind": "hotload-error", "deployment": f"{stack}-rollout",
                                              "message": message})
    result = run(work, plane.url, "apply", "-f", "m", "--auto-approve")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert re.search(rf"SyncBinding/policy-to-rollout: .*{re.escape(message)}", result.stderr), result.stderr
    state = read_state(work)["resources"]
    for address in ("Trainer/policy", "ReferenceTrainer/reference", "Deployment/rollout"):
        assert state.get(address, {}).get("remote_id") and not state[address].get("pending"), (address, state)
    binding = state.get("SyncBinding/policy-to-rollout")
    assert binding is None or not binding["outputs"].get("snapshot_loaded_at"), binding
    dep = plane.deployment(f"{stack}-rollout")
    assert dep is not None and dep["state"] == "READY"

    # the fault was one shot: the next plan hot-loads again and the apply serves the snapshot
    ok(work, plane.url, "apply", "-f", "m", "--auto-approve")
    assert read_state(work)["resources"]["SyncBinding/policy-to-rollout"]["outputs"]["snapshot"] == "step-0100"
    _converged(plane, work, stack)
