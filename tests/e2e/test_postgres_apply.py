"""Concurrent applies and a killed holder on one PostgreSQL state, with real fwctl processes.

Each test writes the GRPO example under a fresh random stack name, points FWCTL_STATE at the real
PostgreSQL on 127.0.0.1 (``.ci/run`` starts it; ``FWCTL_TEST_PG_URL`` points elsewhere) and a
served `fwctl local serve` as the endpoint, so runs never see each other's rows or resources.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conformance.test_state_backends import PG_URL, _postgres_reachable
from tests.e2e.conftest import EXAMPLES, LocalPlane

pytestmark = pytest.mark.postgres

FWCTL = shutil.which("fwctl", path=str(Path(sys.executable).parent)) or "fwctl"
ADDRESSES = {"Trainer/policy", "ReferenceTrainer/reference", "Deployment/rollout", "SyncBinding/policy-to-rollout"}
WAITING = re.compile(r"Waiting for the state lock: lock (\S+) held by (\S+) \(pid (\d+)\) for '(\w+)'")


@pytest.fixture(scope="module", autouse=True)
def _server() -> None:
    reason = _postgres_reachable()
    if reason:
        pytest.skip(reason)


@pytest.fixture
def stack() -> Iterator[str]:
    name = f"pg-{uuid.uuid4().hex[:10]}"
    yield name
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True, connect_timeout=5) as conn:
        for table in ("states", "state_versions", "locks"):
            conn.execute(f"DELETE FROM fwctl.{table} WHERE stack = %s", (name,))


@pytest.fixture
def work(tmp_path: Path, stack: str) -> Path:
    """The GRPO example with the Stack renamed to ``stack``."""
    work = tmp_path / "work"
    shutil.copytree(EXAMPLES / "grpo", work / "grpo")
    manifest = work / "grpo" / "00-stack.yaml"
    text = manifest.read_text()
    assert "metadata: {name: grpo-qwen3-8b}" in text
    manifest.write_text(text.replace("metadata: {name: grpo-qwen3-8b}", f"metadata: {{name: {stack}}}"))
    return work


def _env(plane: LocalPlane) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FIREWORKS_", "FWCTL_"))}
    env.update(FWCTL_ENDPOINT=plane.url, FWCTL_STATE=PG_URL, NO_COLOR="1")
    return env


def _start(work: Path, plane: LocalPlane, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([FWCTL, *args], cwd=work, env=_env(plane), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _run(work: Path, plane: LocalPlane, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([FWCTL, *args], cwd=work, env=_env(plane), capture_output=True, text=True, timeout=300)


def _ok(work: Path, plane: LocalPlane, *args: str) -> subprocess.CompletedProcess[str]:
    result = _run(work, plane, *args)
    assert result.returncode == 0, f"fwctl {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result


def _pull(work: Path, plane: LocalPlane) -> dict[str, Any]:
    return dict(json.loads(_ok(work, plane, "state", "pull", "-f", "grpo").stdout))


def _history(work: Path, plane: LocalPlane) -> list[dict[str, Any]]:
    return list(json.loads(_ok(work, plane, "state", "history", "-f", "grpo", "--json").stdout))


def _lock_row(stack: str) -> tuple[str, int, str] | None:
    """(lock id, pid, operation) of the holder recorded for ``stack``, read straight from the table."""
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True, connect_timeout=5) as conn:
        try:
            row = conn.execute("SELECT lock_id, pid, operation FROM fwctl.locks WHERE stack = %s",
                               (stack,)).fetchone()
        except psycopg.errors.UndefinedTable:
            return None
    return None if row is None else (str(row[0]), int(row[1]), str(row[2]))


def _serial(stack: str) -> int:
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True, connect_timeout=5) as conn:
        try:
            row = conn.execute("SELECT serial FROM fwctl.states WHERE stack = %s", (stack,)).fetchone()
        except psycopg.errors.UndefinedTable:
            return 0
    return 0 if row is None else int(row[0])


def _assert_converged(work: Path, plane: LocalPlane, stack: str) -> dict[str, Any]:
    """Every address recorded, nothing pending, exactly one live remote object per address."""
    doc = _pull(work, plane)
    assert doc["stack"] == stack
    assert set(doc["resources"]) == ADDRESSES
    for address, resource in doc["resources"].items():
        assert resource.get("pending") is None, f"{address} still has a pending operation: {resource['pending']}"
        assert resource.get("status", "created") == "created", (address, resource.get("status"))

    trainers = [t for t in plane.trainers() if t["name"].rsplit("/", 1)[-1].startswith(f"{stack}-")]
    live = [t for t in trainers if t.get("state") not in ("JOB_STATE_DELETING", "JOB_STATE_DELETED")]
    by_name: dict[str, list[str]] = {}
    for trainer in live:
        job_id = trainer["name"].rsplit("/", 1)[-1]
        name = job_id.removeprefix(f"{stack}-").rsplit("-", 1)[0]
        by_name.setdefault(name, []).append(job_id)
    assert {name: len(jobs) for name, jobs in by_name.items()} == {"policy": 1, "reference": 1}, by_name
    assert by_name["policy"] == [doc["resources"]["Trainer/policy"]["remote_id"]]
    assert by_name["reference"] == [doc["resources"]["ReferenceTrainer/reference"]["remote_id"]]

    deployments = [d["name"].rsplit("/", 1)[-1] for d in plane.deployments()
                   if d["name"].rsplit("/", 1)[-1].startswith(f"{stack}-") and d.get("state") != "DELETED"]
    assert deployments == [f"{stack}-rollout"], deployments
    assert doc["resources"]["Deployment/rollout"]["remote_id"] == f"{stack}-rollout"
    return doc


def test_two_applies_on_one_postgres_state_queue_and_lose_nothing(
        work: Path, stack: str, local_plane: LocalPlane) -> None:
    args = ("apply", "-f", "grpo", "--auto-approve", "--lock-timeout", "5m")
    procs = [_start(work, local_plane, *args), _start(work, local_plane, *args)]
    outs = [proc.communicate(timeout=300) for proc in procs]
    for proc, (out, err) in zip(procs, outs, strict=True):
        assert proc.returncode == 0, f"apply (pid {proc.pid}) failed:\n{out}\n{err}"

    # Exactly one of them waited, and it named the other as the holder of the lock.
    waited = [i for i, (_, err) in enumerate(outs) if "Waiting for the state lock" in err]
    assert len(waited) == 1, [err for _, err in outs]
    second, first = waited[0], 1 - waited[0]
    match = WAITING.search(outs[second][1])
    assert match, outs[second][1]
    lock_id, who, pid, operation = match.groups()
    assert int(pid) == procs[first].pid and operation == "apply" and "@" in who, match.group(0)
    assert lock_id != "?"

    # The first did the work; the second, after it, read the first's state and found nothing to do
    # (an empty plan writes no version).
    assert "Apply complete: 4 changes carried out." in outs[first][0], outs[first][0]
    assert "No changes. The account matches the manifests." in outs[second][0], outs[second][0]

    # Serial = every write both made (all of them the first's): the history holds one version per
    # write, 1..N without gaps, of one lineage.
    history = _history(work, local_plane)
    serials = [row["serial"] for row in history]
    assert serials == list(range(1, len(serials) + 1)), serials
    assert len({row["lineage"] for row in history}) == 1
    doc = _assert_converged(work, local_plane, stack)
    assert doc["serial"] == len(history) == _serial(stack)
    # A create writes at least twice (pending, then created): 4 creates -> at least 8 writes.
    assert doc["serial"] >= 8, doc["serial"]

    # Nothing left behind: no lock row, and a plan shows nothing to do.
    assert _lock_row(stack) is None
    plan = _run(work, local_plane, "plan", "-f", "grpo", "--detailed-exitcode")
    assert plan.returncode == 0, plan.stdout + plan.stderr


def test_a_holder_killed_with_sigkill_releases_the_lock_within_seconds(
        work: Path, stack: str, local_plane: LocalPlane) -> None:
    # Trainers stay PENDING for 10 s (250 emulated seconds at speed 25): the apply is mid-flight,
    # with creates recorded in state, when it is killed.
    local_plane.admin("POST", "/_local/v1/faults", {"kind": "capacity", "pendingSeconds": 250})
    proc = _start(work, local_plane, "apply", "-f", "grpo", "--auto-approve", "--lock-timeout", "5m")
    try:
        deadline = time.monotonic() + 60
        while True:
            row = _lock_row(stack)
            if row is not None and row[1] == proc.pid and _serial(stack) >= 2:
                break
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, f"apply never held the lock and wrote state: {row}"
            time.sleep(0.05)
        assert row[2] == "apply"
        # A second fwctl sees the lock held, and by whom.
        held = _run(work, local_plane, "plan", "-f", "grpo")
        assert held.returncode == 1 and f"(pid {proc.pid})" in held.stderr and row[0] in held.stderr, held.stderr
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    killed_at = time.monotonic()

    plan = _run(work, local_plane, "plan", "-f", "grpo", "--lock-timeout", "10s")
    released_after = time.monotonic() - killed_at
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert released_after < 5.0, f"the lock of a killed holder took {released_after:.1f}s to be released"

    # The dead holder's row may stay until the next lock overwrites it; the advisory lock is gone.
    local_plane.admin("DELETE", "/_local/v1/faults")
    _ok(work, local_plane, "apply", "-f", "grpo", "--auto-approve", "--lock-timeout", "10s")
    _assert_converged(work, local_plane, stack)
    assert _lock_row(stack) is None
    history = _history(work, local_plane)
    assert [row["serial"] for row in history] == list(range(1, len(history) + 1))
    again = _run(work, local_plane, "plan", "-f", "grpo", "--detailed-exitcode")
    assert again.returncode == 0, again.stdout + again.stderr
