"""schemas/ is what `fwctl schema` writes, and the examples validate against it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from reconciler.cli import main
from reconciler.model.schema import SCHEMA_MODELS

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = ROOT / "schemas"
# envs/*.yaml are var files (--var-file, issue 16), not manifests
EXAMPLES = sorted(p for p in (ROOT / "manifests" / "examples").rglob("*.yaml") if "envs" not in p.parts)


def test_committed_schemas_are_up_to_date(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["schema", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == sorted(f"{name}.schema.json" for name in SCHEMA_MODELS)
    for name in written:
        committed = SCHEMAS / name
        assert committed.exists(), f"{committed} missing: run `fwctl schema`"
        assert committed.read_text() == (tmp_path / name).read_text(), f"{committed} is stale: run `fwctl schema`"


def test_schema_check_flag(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["schema", "--check", "--out", str(SCHEMAS)]).exit_code == 0
    assert runner.invoke(main, ["schema", "--check", "--out", str(tmp_path)]).exit_code == 1


@pytest.mark.parametrize("path", EXAMPLES, ids=[str(p.relative_to(ROOT)) for p in EXAMPLES])
def test_examples_validate_against_the_schema(path: Path) -> None:
    schema = json.loads((SCHEMAS / "manifest.schema.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    # The editor line points at the committed schema, relative to the file (as the language server resolves it).
    first = path.read_text().splitlines()[0]
    assert first.startswith("# yaml-language-server: $schema=")
    target = (path.parent / first.split("$schema=", 1)[1]).resolve()
    assert target == (SCHEMAS / "manifest.schema.json").resolve()
    for document in yaml.safe_load_all(path.read_text()):
        validator.validate(document)


def test_schema_rejects_what_the_loader_rejects() -> None:
    schema = json.loads((SCHEMAS / "manifest.schema.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    good = {"apiVersion": "fwctl/v1", "kind": "Trainer", "metadata": {"name": "p"},
            "spec": {"baseModel": "accounts/fireworks/models/qwen3-8b", "inactivityTimeout": "30m"}}
    validator.validate(good)
    for bad in (
        {**good, "kind": "Trainr"},
        {**good, "spec": {**good["spec"], "baseModle": "x"}},  # type: ignore[dict-item]
        {**good, "metadata": {"name": "Not_A_Label"}},
        {**good, "spec": {**good["spec"], "inactivityTimeout": "soon"}},  # type: ignore[dict-item]
        {k: v for k, v in good.items() if k != "kind"},
    ):
        assert not validator.is_valid(bad), bad


def test_every_kind_schema_requires_the_header() -> None:
    for name in ("trainer", "referencetrainer", "deployment", "syncbinding", "stack"):
        schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text())
        assert schema["required"][:2] == ["apiVersion", "kind"]
        assert schema["additionalProperties"] is False


def _undescribed(node: Any, where: str = "") -> list[str]:
    """Properties without a description (what an editor shows on hover), anywhere in a schema."""
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in (node.get("properties") or {}).items():
            if isinstance(value, dict) and not value.get("description"):
                found.append(f"{where}.{key}")
        for key, value in node.items():
            found += _undescribed(value, f"{where}/{key}")
    elif isinstance(node, list):
        for value in node:
            found += _undescribed(value, where)
    return found


@pytest.mark.parametrize("name", ["manifest", "stack", "trainer", "referencetrainer", "deployment", "syncbinding"])
def test_every_manifest_field_carries_a_description(name: str) -> None:
    schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text())
    assert _undescribed(schema) == []
    trainer = schema if name == "trainer" else None
    if trainer is not None:  # taken from the model: the field's docstring
        assert "LoRA adapter rank" in trainer["$defs"]["TrainerSpec"]["properties"]["loraRank"]["description"]
