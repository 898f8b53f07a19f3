"""The local file backend's own guarantees: permissions, backup, atomicity, stale locks, corruption."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from reconciler.model.state import LockInfo, ResourceState, StateDocument
from reconciler.state import LocalFileBackend, LockHeld, StateError, open_backend


def _doc() -> StateDocument:
    return StateDocument(stack="demo")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_file_mode_0600_and_parent_0700(tmp_path: Path) -> None:
    path = tmp_path / ".fwctl" / "state.json"
    backend = LocalFileBackend(path)
    doc = _doc().next_version()
    backend.write(doc)
    assert _mode(path) == 0o600
    assert _mode(path.parent) == 0o700
    backend.write(doc.next_version())
    assert _mode(path) == 0o600
    assert _mode(path.with_name("state.json.backup")) == 0o600
    lock_id = backend.lock(LockInfo(operation="apply"))
    assert _mode(path.with_name("state.json.lock")) == 0o600
    backend.unlock(lock_id)
    assert not path.with_name("state.json.lock").exists()


def test_backup_holds_the_previous_version(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    backend = LocalFileBackend(path)
    first = _doc().next_version()
    backend.write(first)
    assert not path.with_name("state.json.backup").exists()
    second = first.with_resource("Trainer/a", ResourceState(kind="Trainer", name="a")).next_version()
    backend.write(second)
    backup = json.loads(path.with_name("state.json.backup").read_text())
    assert backup["serial"] == 1 and backup["resources"] == {}
    assert json.loads(path.read_text())["serial"] == 2
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_document_is_indented_json(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    LocalFileBackend(path).write(_doc().next_version())
    text = path.read_text()
    assert text.startswith("{\n  ")
    assert json.loads(text)["stack"] == "demo"


def test_crash_mid_write_leaves_the_old_file_intact(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    backend = LocalFileBackend(path)
    first = _doc().next_version()
    backend.write(first)
    before = path.read_bytes()
    new = first.with_resource("Trainer/a", ResourceState(kind="Trainer", name="a")).next_version()
    # A child process that dies (no cleanup, no exception handling) right after writing the new
    # bytes to the temp file, before the rename.
    script = textwrap.dedent(
        f"""
        import os
        from reconciler.model.state import StateDocument
        from reconciler.state import LocalFileBackend
        from reconciler.state import _local
        real_fsync = os.fsync
        def crash(fd):
            if os.readlink(f"/proc/self/fd/{{fd}}").endswith(".tmp") and "backup" not in os.readlink(f"/proc/self/fd/{{fd}}"):
                os._exit(9)
            real_fsync(fd)
        _local.os.fsync = crash
        doc = StateDocument.model_validate_json({new.model_dump_json()!r})
        LocalFileBackend({str(path)!r}).write(doc)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == 9, proc.stderr
    assert path.read_bytes() == before
    stored = LocalFileBackend(path).read()
    assert stored is not None and stored.serial == 1


def test_failed_replace_leaves_old_file_and_no_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "state.json"
    backend = LocalFileBackend(path)
    first = _doc().next_version()
    backend.write(first)
    before = path.read_bytes()
    from reconciler.state import _local

    def boom(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(_local.os, "replace", boom)
    with pytest.raises(StateError, match="No space left"):
        backend.write(first.next_version())
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_stale_lock_of_a_killed_process_is_taken_over(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    script = textwrap.dedent(
        f"""
        import os, signal, sys
        from reconciler.model.state import LockInfo
        from reconciler.state import LocalFileBackend
        LocalFileBackend({str(path)!r}).lock(LockInfo(operation="apply", who="doomed", pid=os.getpid()))
        sys.stdout.write("locked\\n"); sys.stdout.flush()
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == -9 and "locked" in proc.stdout, proc.stderr
    lock_file = path.with_name("state.json.lock")
    assert "doomed" in lock_file.read_text()  # the file survived its holder

    backend = LocalFileBackend(path)
    info = LockInfo(operation="plan", who="survivor")
    assert backend.lock(info) == info.id
    assert json.loads(lock_file.read_text())["who"] == "survivor"
    with pytest.raises(LockHeld, match="survivor"):
        LocalFileBackend(path).lock(LockInfo(operation="apply"))
    backend.unlock(info.id)


def test_live_lock_of_another_process_is_reported_with_holder(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    script = textwrap.dedent(
        f"""
        import sys
        from reconciler.model.state import LockInfo
        from reconciler.state import LocalFileBackend
        LocalFileBackend({str(path)!r}).lock(LockInfo(operation="destroy", who="other@host", pid=42))
        print("locked", flush=True)
        sys.stdin.readline()
        """
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "locked"
        with pytest.raises(LockHeld) as caught:
            LocalFileBackend(path).lock(LockInfo(operation="plan"))
        assert caught.value.holder.operation == "destroy"
        assert caught.value.holder.who == "other@host"
        assert "destroy" in str(caught.value) and str(path) in str(caught.value)
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(10)
    # Released when the child ended normally... and even if it had not unlocked, its flock is gone.
    lock_id = LocalFileBackend(path).lock(LockInfo(operation="plan"))
    assert lock_id


@pytest.mark.parametrize(
    "content, fragment",
    [
        (b"{not json", "invalid JSON"),
        (b"[]", "expected a JSON object"),
        (b'{"stack": 5}', "stack"),
        (b'{"format_version": 99, "stack": "x"}', "upgrade fwctl"),
        (b"\xff\xfe", "invalid JSON"),
    ],
)
def test_corrupt_file_is_a_clean_error_and_never_overwritten(
    tmp_path: Path, content: bytes, fragment: str
) -> None:
    path = tmp_path / "state.json"
    path.write_bytes(content)
    backend = LocalFileBackend(path)
    with pytest.raises(StateError) as caught:
        backend.read()
    message = str(caught.value)
    assert str(path) in message and fragment in message
    assert "\n" not in message and "Traceback" not in message
    with pytest.raises(StateError):
        backend.write(_doc().next_version())
    assert path.read_bytes() == content


def test_open_backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    default = open_backend()
    assert isinstance(default, LocalFileBackend)
    assert default.describe() == os.path.join(".fwctl", "state.json")
    assert isinstance(open_backend(str(tmp_path / "s.json")), LocalFileBackend)
    postgres = open_backend("postgresql://user:secret@127.0.0.1/db", stack="demo")
    assert "secret" not in postgres.describe() and "secret" not in repr(postgres)
    assert postgres.describe() == "postgresql://user@127.0.0.1/db (stack demo)"
    with pytest.raises(StateError, match="unsupported"):
        open_backend("s3://bucket/key")


def test_a_symlinked_state_is_written_through_to_its_target(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "state.json"
    link = tmp_path / "state.json"
    link.symlink_to(Path("real") / "state.json")  # dangling until the first write
    backend = LocalFileBackend(link)
    doc = StateDocument(stack="demo").next_version()
    backend.write(doc)
    lock_id = backend.lock(LockInfo(operation="apply"))
    assert (tmp_path / "real" / "state.json.lock").exists() and not (tmp_path / "state.json.lock").exists()
    second = doc.next_version()
    backend.write(second)
    backend.unlock(lock_id)
    assert link.is_symlink() and LocalFileBackend(target).read() == second
    assert (tmp_path / "real" / "state.json.backup").exists()
    assert str(link) in backend.describe() and str(target) in backend.describe()


def test_a_failed_write_is_one_line_and_keeps_the_old_version(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    backend = LocalFileBackend(tmp_path / "state.json")
    doc = StateDocument(stack="demo").next_version()
    backend.write(doc)
    before = (tmp_path / "state.json").read_bytes()

    def full(fd: int, data: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(StateError, match="cannot write state: No space left on device"):
        backend.write(doc.next_version())
    monkeypatch.undo()
    assert (tmp_path / "state.json").read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # no temporary file left behind


@pytest.mark.parametrize("text,why", [
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ('{"stack": "demo", "resources": {"Trainer/t": ' + "[" * 900 + "]" * 900 + "}}", "not a valid fwctl state"),
    ('{"stack": "demo\\udc80"}', "lone surrogate"),
])
def test_hostile_state_files_are_one_line_errors(tmp_path: Path, text: str, why: str) -> None:
    path = tmp_path / "state.json"
    path.write_text(text)
    with pytest.raises(StateError, match=why) as caught:
        LocalFileBackend(path).read()
    assert "\n" not in str(caught.value)
