"""Saved plan files: round trip, permissions, and refusal of damaged or edited files."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from reconciler.model.plan import Action, Change, FieldDiff, Plan
from reconciler.planfile import (
    PLAN_FILE_FORMAT_VERSION,
    PlanFileError,
    read_plan_file,
    write_plan_file,
    write_sources,
)

SOURCES = (
    ("grpo/00-stack.yaml", "apiVersion: fwctl/v1\nkind: Stack\nmetadata: {name: demo}\n"),
    ("grpo/10-trainers.yaml", "# ünïcode comment\napiVersion: fwctl/v1\n"),
)


def sample_plan() -> Plan:
    return Plan(
        stack="demo",
        endpoint="http://127.0.0.1:8787",
        account="acct",
        state_lineage="lineage-1",
        state_serial=3,
        manifests_digest="abc",
        changes=(
            Change(address="Trainer/policy", kind="Trainer", action=Action.REPLACE, remote_id="new",
                   prior_remote_id="old", diffs=(FieldDiff(path="learningRate", before=1e-5, after=2e-5,
                                                           forces_replacement=True),),
                   reasons=("learningRate changed",), replace_paths=("learningRate",), settings={"timeouts": {"create": 60.0}}),
            Change(address="Deployment/rollout", kind="Deployment", action=Action.NOOP),
        ),
    )


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "demo.plan"
    plan = sample_plan()
    write_plan_file(str(path), plan, SOURCES)
    saved = read_plan_file(str(path))
    assert saved.plan == plan
    assert saved.manifests == SOURCES
    doc = json.loads(path.read_text())
    assert doc["format_version"] == PLAN_FILE_FORMAT_VERSION
    assert doc["plan"]["changes"][0]["actions"] == ["delete", "create"]
    assert doc["checksum"].startswith("sha256:")


def test_written_with_mode_0600_and_replaced_atomically(tmp_path: Path) -> None:
    path = tmp_path / "demo.plan"
    path.write_text("old")
    os.chmod(path, 0o644)
    write_plan_file(str(path), sample_plan(), SOURCES)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["demo.plan"]  # no temporary file left behind


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: d["plan"]["changes"][0].update(action="no-op"),
        lambda d: d["plan"].update(state_serial=4),
        lambda d: d["manifests"][0].update(text=d["manifests"][0]["text"] + "# x\n"),
        lambda d: d.update(checksum="sha256:" + "0" * 64),
    ],
    ids=["action", "serial", "manifest", "checksum"],
)
def test_tampered_file_is_refused(tmp_path: Path, edit) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "demo.plan"
    write_plan_file(str(path), sample_plan(), SOURCES)
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc))
    with pytest.raises(PlanFileError, match="modified after") as err:
        read_plan_file(str(path))
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "invalid JSON at line 1"),
        ("[1, 2]", "expected an object"),
        ('{"format_version": 1, "plan": {}, "manifests": "x", "checksum": ""}', "manifests a list"),
        (b"\xff\xfe".decode("latin-1"), "not a saved fwctl plan"),
    ],
)
def test_bad_files_are_refused(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.plan"
    path.write_text(content, encoding="latin-1")
    with pytest.raises(PlanFileError, match=message) as err:
        read_plan_file(str(path))
    assert "\n" not in str(err.value)


def test_other_format_version_and_missing_file_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "demo.plan"
    write_plan_file(str(path), sample_plan(), SOURCES)
    doc = json.loads(path.read_text())
    doc["format_version"] = 99
    path.write_text(json.dumps(doc))
    with pytest.raises(PlanFileError, match="format 99 is not supported"):
        read_plan_file(str(path))
    with pytest.raises(PlanFileError, match="cannot read the plan file"):
        read_plan_file(str(tmp_path / "missing.plan"))


def test_unwritable_location_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(PlanFileError, match="cannot write the plan file"):
        write_plan_file(str(tmp_path / "no" / "such" / "dir.plan"), sample_plan(), SOURCES)


def test_write_sources_keeps_order_and_names(tmp_path: Path) -> None:
    sources = (*SOURCES, ("other/00-stack.yaml", "x: 1\n"), ("<stdin>", "y: 2\n"))
    paths = write_sources(str(tmp_path), sources)
    assert [Path(p).name for p in paths] == ["00-stack.yaml", "10-trainers.yaml", "00-stack.yaml", "stdin.yaml"]
    assert [Path(p).read_text(encoding="utf-8") for p in paths] == [text for _file, text in sources]
