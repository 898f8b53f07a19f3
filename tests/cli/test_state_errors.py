"""A state location that cannot be written: every command that writes state says so in one line.

Through the real `fwctl` executable (embedded control plane): the GRPO example is applied with its
state on a small tmpfs, which is then remounted read-only, or filled up. Every command that writes
state (apply, destroy, import, state rm, state push, state migrate, apply --refresh-only, and
plan --refresh-only, which locks) must end with exit 1, one line on stderr and no traceback, and
leave the state byte for byte as it was. Tests may run as root, where a read-only chmod does not
stop writes: the tmpfs is the real thing; where mounting is not allowed, a state path under a
regular file (or a chmod-ed directory, when not root) stands in for the read-only case.

Also here: a symbolic link to a state file is written through to its target, never replaced.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import Fwctl


def _errors(stderr: str) -> list[str]:
    return [line for line in stderr.strip().splitlines()
            if not line.startswith("Using the embedded local control plane")]


def _mount_tmpfs(where: Path, size: str) -> bool:
    if shutil.which("mount") is None:
        return False
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(where)],
                          capture_output=True, check=False)
    return done.returncode == 0


def _umount(where: Path) -> None:
    subprocess.run(["umount", "-l", str(where)], capture_output=True, check=False)


def _writers(fwctl: Fwctl, state: str, workdir: Path) -> list[tuple[str, ...]]:
    """Every command that writes (or locks) the state at ``state``."""
    at = ("--state", state)
    pushed = workdir / "pushed.json"
    if not pushed.exists():
        pulled = fwctl("state", "pull", *at)
        doc = json.loads(pulled.stdout) if pulled.returncode == 0 else {"stack": "grpo-qwen3-8b"}
        pushed.write_text(json.dumps({**doc, "serial": int(doc.get("serial", 0)) + 10}))
    elsewhere = workdir / "elsewhere.json"
    return [
        ("apply", "-f", "grpo", "--auto-approve", *at),
        ("destroy", "-f", "grpo", "--auto-approve", *at),
        ("import", "-f", "grpo", "Trainer/policy", "grpo-qwen3-8b-policy-000000", *at),
        ("state", "rm", "Deployment/rollout", "-f", "grpo", *at),
        ("state", "push", str(pushed), "-f", "grpo", *at),
        ("state", "migrate", "-f", "grpo", "--state", str(elsewhere), "--to", state),
        ("apply", "-f", "grpo", "--refresh-only", "--auto-approve", *at),
        ("plan", "-f", "grpo", "--refresh-only", *at),
    ]


def _assert_all_refused(fwctl: Fwctl, state: Path, commands: list[tuple[str, ...]], *, words: tuple[str, ...]) -> None:
    before = state.read_bytes() if state.exists() else None
    for args in commands:
        result = fwctl(*args)
        out = result.stdout + result.stderr
        assert "Traceback" not in out, f"fwctl {' '.join(args)}:\n{out[-3000:]}"
        assert result.returncode == 1, f"fwctl {' '.join(args)} exited {result.returncode}:\n{out[-3000:]}"
        errors = _errors(result.stderr)
        assert len(errors) == 1, f"fwctl {' '.join(args)}: not one line:\n{result.stderr}"
        assert any(w in errors[0] for w in words), errors[0]
        assert (state.read_bytes() if state.exists() else None) == before, f"fwctl {' '.join(args)} changed the state"


@pytest.fixture
def tmpfs(workdir: Path) -> Iterator[Path | None]:
    where = workdir / "mnt"
    mounted = _mount_tmpfs(where, "1m")
    try:
        yield where if mounted else None
    finally:
        if mounted:
            _umount(where)


def test_every_state_writer_on_a_read_only_state_location_fails_in_one_line(
        fwctl: Fwctl, workdir: Path, tmpfs: Path | None) -> None:
    (workdir / "elsewhere").mkdir()
    if tmpfs is not None:
        state = tmpfs / "state.json"
        fwctl.ok("apply", "-f", "grpo", "--auto-approve", "--state", str(state))
        fwctl.ok("state", "pull", "--state", str(state))
        shutil.copy(state, workdir / "elsewhere.json")  # a source for `state migrate --to` the read-only place
        subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
        words = ("Read-only file system",)
    elif os.geteuid() != 0:
        directory = workdir / "ro"
        directory.mkdir()
        state = directory / "state.json"
        fwctl.ok("apply", "-f", "grpo", "--auto-approve", "--state", str(state))
        shutil.copy(state, workdir / "elsewhere.json")
        directory.chmod(0o500)
        words = ("Permission denied",)
    else:  # root and no mount: a state path under a regular file cannot be written either
        (workdir / "regular").write_text("not a directory\n")
        state = workdir / "regular" / "state.json"
        fwctl.ok("apply", "-f", "grpo", "--auto-approve", "--state", str(workdir / "elsewhere.json"))
        words = ("Not a directory",)
    try:
        _assert_all_refused(fwctl, state, _writers(fwctl, str(state), workdir), words=words)
    finally:
        if tmpfs is None and os.geteuid() != 0:
            (workdir / "ro").chmod(0o700)


def test_every_state_writer_on_a_full_state_location_fails_in_one_line(
        fwctl: Fwctl, workdir: Path, tmpfs: Path | None) -> None:
    if tmpfs is None:
        pytest.skip("cannot mount a small tmpfs here (not root, or no mount): no full file system to test on")
    state = tmpfs / "state.json"
    fwctl.ok("apply", "-f", "grpo", "--auto-approve", "--state", str(state))
    shutil.copy(state, workdir / "elsewhere.json")
    commands = _writers(fwctl, str(state), workdir)
    (tmpfs / "reserve").write_bytes(b"\0" * 4096)  # one page, freed later: room for a lock, not a state
    with open(tmpfs / "filler", "wb") as filler:  # fill it up
        try:
            while True:
                filler.write(b"\0" * 65536)
                filler.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    _assert_all_refused(fwctl, state, commands, words=("No space left on device",))
    # Room for the lock file but not for the state: the write itself fails, in one line, and the
    # state file is still the whole previous version (writes go to a temporary file first).
    (tmpfs / "reserve").unlink()
    writes = [c for c in commands if c[:2] in (("state", "rm"), ("state", "push"))]
    _assert_all_refused(fwctl, state, writes, words=("cannot write state: No space left on device",))
    (tmpfs / "filler").unlink()
    fwctl.ok("plan", "-f", "grpo", "--state", str(state))  # the state survived, readable and whole


def test_a_symlinked_state_file_is_written_through_to_its_target(fwctl: Fwctl, workdir: Path) -> None:
    (workdir / "real").mkdir()
    target = workdir / "real" / "state.json"
    link = workdir / "state.json"
    fwctl.ok("apply", "-f", "grpo", "--auto-approve", "--state", str(target))
    serial = json.loads(target.read_text())["serial"]
    link.symlink_to(Path("real") / "state.json")

    fwctl.ok("state", "rm", "Deployment/rollout", "-f", "grpo", "--state", str(link))
    assert link.is_symlink(), "the link was replaced by a regular file"
    written = json.loads(target.read_text())
    assert written["serial"] == serial + 1 and "Deployment/rollout" not in written["resources"]
    assert (workdir / "real" / "state.json.backup").exists()  # the backup sits next to the target
    assert not (workdir / "state.json.backup").exists() and not (workdir / "state.json.lock").exists()

    # A second writer through the target itself and one through the link take the same lock.
    from reconciler.model.state import LockInfo
    from reconciler.state import LocalFileBackend

    holder = LocalFileBackend(target)
    lock_id = holder.lock(LockInfo(operation="apply", who="someone@elsewhere", host="elsewhere", pid=1))
    try:
        held = fwctl("state", "rm", "SyncBinding/policy-to-rollout", "-f", "grpo", "--state", str(link))
        assert held.returncode == 1 and "locked" in held.stderr, held.stdout + held.stderr
    finally:
        holder.unlock(lock_id)
    assert json.loads(target.read_text())["serial"] == serial + 1
