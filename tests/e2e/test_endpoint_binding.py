"""A state is bound to the endpoint and account it was written against.

Every command that talks to the account refuses another endpoint or account (one line naming both
and the way out) unless `--allow-endpoint-change` moves the stack; the embedded fallback is never
chosen for a state written against another endpoint.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.e2e.conftest import Fwctl, LocalPlane

STACK = "grpo-qwen3-8b"
EMBEDDED_NOTICE = "Using the embedded local control plane"


def without_endpoint(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """fwctl as run from a shell (or a CI job) where neither FWCTL_ENDPOINT nor FIREWORKS_API_KEY is set."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("FIREWORKS_", "FWCTL_", "CI"))}
    environ.update(NO_COLOR="1", FWCTL_LOCAL_SPEED="25", **env)
    fwctl = shutil.which("fwctl", path=str(Path(sys.executable).parent)) or "fwctl"
    return subprocess.run([fwctl, *args], cwd=cwd, env=environ, capture_output=True, text=True, timeout=300)


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, f"should be refused:\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_no_silent_fallback_to_the_embedded_plane(fwctl: Fwctl, local_plane: LocalPlane, workdir: Path) -> None:
    fwctl.ok("apply", "-f", "grpo", "--auto-approve")
    state_file = workdir / ".fwctl" / "state.json"
    written = state_file.read_bytes()
    fwctl.ok("plan", "-f", "grpo", "--out", "reviewed.plan")

    # a shell without FWCTL_ENDPOINT, or a CI job whose FIREWORKS_API_KEY secret is missing
    for env in ({}, {"CI": "true"}):
        for args in (("plan", "-f", "grpo"), ("apply", "-f", "grpo", "--auto-approve"),
                     ("destroy", "-f", "grpo", "--auto-approve"), ("plan", "-f", "grpo", "--refresh-only"),
                     ("apply", "-f", "grpo", "--refresh-only", "--auto-approve"),
                     ("import", "-f", "grpo", "Deployment/rollout", f"{STACK}-rollout"),
                     ("status", "-f", "grpo"), ("orphans", "-f", "grpo"), ("orphans", "-f", "grpo", "--delete"),
                     ("plan", "-f", "grpo", "--allow-endpoint-change")):  # never a way into the fallback
            line = one_line_error(without_endpoint(workdir, *args, **env))
            assert f"belongs to endpoint {local_plane.url}" in line, line
            assert f"--endpoint {local_plane.url}" in line, line
        # a saved plan keeps refusing another endpoint, as it did
        assert "was made for endpoint" in one_line_error(without_endpoint(workdir, "apply", "reviewed.plan", **env))
    assert state_file.read_bytes() == written
    assert not (workdir / ".fwctl" / "local.db").exists()  # the embedded plane was never started
    assert {t["state"] for t in local_plane.trainers()} == {"JOB_STATE_RUNNING"}

    # the way out named in the message works
    assert without_endpoint(workdir, "plan", "-f", "grpo", "--endpoint", local_plane.url,
                            "--detailed-exitcode").returncode == 0

    # with no state at all, CI still says on stderr that it uses the embedded plane
    fresh = workdir / "fresh"
    shutil.copytree(workdir / "grpo", fresh / "grpo")
    result = without_endpoint(fresh, "plan", "-f", "grpo", CI="true")
    assert result.returncode == 0, result.stderr
    assert EMBEDDED_NOTICE in result.stderr and "to create" in result.stdout


def test_another_endpoint_or_account_is_refused_unless_the_stack_is_moved(
        fwctl: Fwctl, local_plane: LocalPlane, workdir: Path) -> None:
    fwctl.ok("apply", "-f", "grpo", "--auto-approve")
    state_file = workdir / ".fwctl" / "state.json"
    # the same control plane under another URL, as behind a proxy
    proxy_url = local_plane.url.replace("127.0.0.1", "localhost")
    behind_proxy = Fwctl(workdir, proxy_url)

    for args in (("plan", "-f", "grpo"), ("apply", "-f", "grpo", "--auto-approve"),
                 ("destroy", "-f", "grpo", "--auto-approve"), ("plan", "-f", "grpo", "--refresh-only"),
                 ("import", "-f", "grpo", "Deployment/rollout", f"{STACK}-rollout"),
                 ("plan", "-f", "grpo", "--endpoint", "local")):
        line = one_line_error(behind_proxy(*args))
        assert f"belongs to endpoint {local_plane.url}" in line, line
        assert f"--endpoint {local_plane.url}" in line and "--allow-endpoint-change" in line, line
        assert "fwctl-local-key" not in line

    # moving the stack is explicit: the plan says nothing changes on the platform, apply records the move
    moving = behind_proxy("plan", "-f", "grpo", "--allow-endpoint-change", "--detailed-exitcode")
    assert moving.returncode == 0 and "No changes" in moving.stdout, moving.stdout + moving.stderr
    assert "--allow-endpoint-change: moving the stack to " + proxy_url in moving.stderr
    assert json.loads(state_file.read_text())["endpoint"] == local_plane.url  # a plan writes nothing
    behind_proxy.ok("apply", "-f", "grpo", "--allow-endpoint-change", "--auto-approve")
    assert json.loads(state_file.read_text())["endpoint"] == proxy_url
    assert behind_proxy("plan", "-f", "grpo", "--detailed-exitcode").returncode == 0
    line = one_line_error(fwctl("plan", "-f", "grpo"))  # now the old URL is the other endpoint
    assert f"belongs to endpoint {proxy_url}" in line, line

    # a state written for another account (another team's key) is refused the same way
    state = json.loads(state_file.read_text())
    state["account"] = "team-b"
    state_file.write_text(json.dumps(state))
    for args in (("plan", "-f", "grpo"), ("apply", "-f", "grpo", "--auto-approve"),
                 ("apply", "-f", "grpo", "--refresh-only", "--auto-approve")):
        line = one_line_error(behind_proxy(*args))
        assert "belongs to account team-b" in line and f"resolves to account {local_plane.account}" in line, line
        assert "--allow-endpoint-change" in line, line
    behind_proxy.ok("apply", "-f", "grpo", "--refresh-only", "--allow-endpoint-change", "--auto-approve")
    assert json.loads(state_file.read_text())["account"] == local_plane.account
    assert behind_proxy("plan", "-f", "grpo", "--detailed-exitcode").returncode == 0
    assert {t["state"] for t in local_plane.trainers()} == {"JOB_STATE_RUNNING"}
