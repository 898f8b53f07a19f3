"""The JSON plan matches schemas/plan.schema.json for every action; markdown stays PR-sized."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from reconciler.model.plan import Action, Change, FieldDiff, Plan
from reconciler.render import MARKDOWN_LIMIT, plan_json, plan_markdown

SCHEMA = json.loads((Path(__file__).resolve().parent.parent / "schemas" / "plan.schema.json").read_text())
KINDS = {"Trainer", "ReferenceTrainer", "Deployment", "SyncBinding"}


def change(action: Action, address: str = "Trainer/policy", **extra: Any) -> Change:
    kind = address.split("/")[0]
    return Change(address=address, kind=kind, action=action, reasons=(f"because {action.value}",), **extra)


def plan_of(*changes: Change) -> Plan:
    return Plan(stack="demo", endpoint="local", account="acct", state_lineage="l", state_serial=1,
                changes=changes)


def validate(data: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator(SCHEMA).validate(data)


@pytest.mark.parametrize("action", list(Action), ids=[a.value for a in Action])
def test_json_plan_validates_for_every_action(action: Action) -> None:
    extra: dict[str, Any] = {"remote_id": "job-2", "before": {"learningRate": 1e-5}, "after": {"learningRate": 2e-5},
                             "diffs": (FieldDiff(path="learningRate", before=1e-5, after=2e-5,
                                                 forces_replacement=action is Action.REPLACE),),
                             "depends_on": ("Deployment/rollout",), "settings": {"timeouts": {"create": 600}}}
    if action is Action.REPLACE:
        extra["prior_remote_id"] = "job-1"
        extra["replace_paths"] = ("learningRate",)
    data = plan_json(plan_of(change(action, **extra)))
    validate(data)
    assert list(data)[0] == "format_version"
    assert data["changes"][0]["actions"] == (["delete", "create"] if action is Action.REPLACE else [action.value])
    assert data["summary"] == {action.value: 1}


def test_schema_rejects_an_unknown_action() -> None:
    data = plan_json(plan_of(change(Action.CREATE)))
    data["changes"][0]["action"] = "explode"
    with pytest.raises(jsonschema.ValidationError):
        validate(data)


def no_trainer_replaced(plan: dict[str, Any]) -> list[str]:
    """A policy as a pipeline would write it, from the JSON plan alone: the trainers it would replace."""
    return [
        c["address"]
        for c in plan["changes"]
        if c["kind"] in ("Trainer", "ReferenceTrainer") and c["actions"] == ["delete", "create"]
    ]


def test_a_policy_decides_from_the_json_alone() -> None:
    calm = json.loads(json.dumps(plan_json(plan_of(change(Action.UPDATE, "Deployment/rollout"),
                                                   change(Action.RESUME, "Trainer/policy")))))
    risky = json.loads(json.dumps(plan_json(plan_of(change(Action.REPLACE, "Deployment/rollout"),
                                                    change(Action.REPLACE, "ReferenceTrainer/ref")))))
    assert no_trainer_replaced(calm) == []
    assert no_trainer_replaced(risky) == ["ReferenceTrainer/ref"]


def test_markdown_flags_destructive_changes_and_folds_noops() -> None:
    text = plan_markdown(plan_of(
        change(Action.REPLACE, diffs=(FieldDiff(path="learningRate", before=1e-5, after=2e-5,
                                                forces_replacement=True),)),
        change(Action.DELETE, "Deployment/old"),
        change(Action.UPDATE, "Deployment/rollout", diffs=(FieldDiff(path="replicas.max", before=1, after=2),)),
        change(Action.NOOP, "SyncBinding/sync"),
    ))
    lines = text.splitlines()
    warning = next(i for i, line in enumerate(lines) if line.startswith("> ⚠️"))
    assert warning < next(i for i, line in enumerate(lines) if line.startswith("| Address"))
    assert "`Trainer/policy` (replace)" in lines[warning] and "`Deployment/old` (delete)" in lines[warning]
    assert "| `Deployment/rollout` | ~ update | - | because update |" in text
    assert "SyncBinding/sync" not in text and "1 unchanged resource not listed" in text
    assert text.count("<details>") == 3 and text.count("</details>") == 3
    assert "~ learningRate: 1e-05 -> 2e-05  # forces replacement" in text
    assert "~ replicas.max: 1 -> 2" in text


def test_markdown_without_changes() -> None:
    text = plan_markdown(plan_of(change(Action.NOOP)))
    assert "No changes" in text and "1 resource unchanged" in text and "<details>" not in text


def test_markdown_of_a_huge_plan_stays_under_the_limit() -> None:
    diffs = tuple(FieldDiff(path=f"env.VAR_{i}", before="x" * 40, after="y" * 40) for i in range(10))
    changes = [
        change([Action.CREATE, Action.UPDATE, Action.REPLACE, Action.DELETE][i % 4], f"Trainer/t-{i:04d}",
               diffs=diffs, after={"baseModel": "accounts/fireworks/models/qwen3-8b", "learningRate": 1e-5})
        for i in range(2_000)
    ]
    changes += [change(Action.NOOP, f"Deployment/d-{i}") for i in range(500)]
    text = plan_markdown(plan_of(*changes))
    assert len(text) < MARKDOWN_LIMIT
    assert "500 unchanged resources not listed" in text
    assert "more changes not shown; run `fwctl plan --format json` to see all." in text
    assert text.startswith("### fwctl plan") and "> ⚠️ **1000 destructive changes:**" in text
    assert "and 980 more" in text
    assert text.count("<details>") == text.count("</details>") > 0
