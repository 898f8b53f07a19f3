"""The operations from Python: typed arguments in, frozen values out, refusals as OperationError."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from reconciler import operations
from reconciler.model.errors import FwctlError
from reconciler.model.state import ResourceState, StateDocument
from reconciler.operations import ApplyRequest, OperationError, PlanOptions
from reconciler.state import LocalFileBackend, StateConflict
from reconciler.state.migrate import migrate, push
from tests.cli.conftest import EXAMPLES


@pytest.fixture
def grpo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(EXAMPLES / "grpo", tmp_path / "grpo")
    for name in ("FIREWORKS_API_KEY", "FIREWORKS_BASE_URL", "FWCTL_ENDPOINT", "FWCTL_STATE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FWCTL_LOCAL_DB", str(tmp_path / "local.db"))
    monkeypatch.setenv("FWCTL_LOCAL_SPEED", "1000")
    monkeypatch.chdir(tmp_path)
    return tmp_path / "grpo"


def test_plan_then_apply_fresh_and_a_stale_saved_plan_is_refused(grpo: Path, tmp_path: Path) -> None:
    state = str(tmp_path / "state.json")
    session = operations.open_session([str(grpo)], "local", state)
    planned = operations.plan(session)
    assert planned.has_changes and planned.state_serial == 0
    operations.save_plan(str(tmp_path / "first.plan"), planned, session)

    request = ApplyRequest(files=(str(grpo),), endpoint="local", state=state)
    with operations.prepare_apply(request) as prepared:
        assert not prepared.saved and prepared.what == "apply"
        outcome = prepared.apply(parallelism=4)
    assert outcome.ok and len(outcome.done) == len(planned.changes)

    # the saved plan was made from no state; there is one now
    with pytest.raises(OperationError, match="stale plan: .*first.plan was made from no state"), \
            operations.prepare_apply(ApplyRequest(endpoint="local", state=state, plan_file=str(tmp_path / "first.plan"))):
        pass
    assert not (tmp_path / "state.json.lock").exists()

    # destroy goes the same way
    with operations.prepare_apply(ApplyRequest(files=(str(grpo),), endpoint="local", state=state,
                                               options=PlanOptions(destroy=True))) as prepared:
        assert prepared.what == "destroy"
        assert prepared.apply().ok


def test_every_user_facing_error_is_a_fwctl_error(tmp_path: Path) -> None:
    with pytest.raises(FwctlError):
        operations.open_session([str(tmp_path / "missing")], "local", str(tmp_path / "s.json"))
    with pytest.raises(FwctlError, match="unsupported state location scheme"):
        operations.open_session([str(EXAMPLES / "grpo")], "local", "s3://bucket/state")
    with pytest.raises(FwctlError, match="not an http"):
        operations.open_session([str(EXAMPLES / "grpo")], "ftp://example.com", str(tmp_path / "s.json"))


def _doc(lineage: str = "L1", serial: int = 1) -> StateDocument:
    return StateDocument(stack="s", lineage=lineage, serial=serial)


def test_push_rules(tmp_path: Path) -> None:
    backend = LocalFileBackend(tmp_path / "state.json")
    backend.write(_doc(serial=3))
    with pytest.raises(StateConflict, match="its serial 2 is not newer than the state's serial 3"):
        push(backend, _doc(serial=2), name="f.json", force=False)
    with pytest.raises(StateConflict, match="its lineage L2 is not the lineage L1"):
        push(backend, _doc("L2", 9), name="f.json", force=False)
    written = push(backend, _doc(serial=2), name="f.json", force=True)
    assert written.serial == 4  # forced, and the serial still rises
    assert push(backend, _doc("L2", 1), name="f.json", force=True).lineage == "L2"


def test_migrate_copies_the_versions_the_target_lacks(tmp_path: Path) -> None:
    source = LocalFileBackend(tmp_path / "a.json")
    first = _doc(serial=1)
    source.write(first)
    source.write(first.with_resource("Trainer/a", ResourceState(kind="Trainer", name="a")).next_version())
    target = LocalFileBackend(tmp_path / "b.json")
    done = migrate(source, target)
    assert done.copied and done.doc.serial == 2 and done.earlier == 1
    assert target.read() == source.read()
    assert not migrate(source, target).copied  # already there: nothing to copy
    other = LocalFileBackend(tmp_path / "c.json")
    other.write(_doc("L9", 1))
    with pytest.raises(StateConflict, match="another lineage"):
        migrate(source, other)
