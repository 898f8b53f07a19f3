"""Variable resolution and for-each stamping in the manifest layer (issue 16): what the models see."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.manifest import ManifestError, VariableInputs, load_manifests
from reconciler.model.variables import remote_name

STACK = """\
apiVersion: fwctl/v1
kind: Stack
metadata: {name: s}
spec:
  state: ${var.env}-state.json
  variables:
    env: {type: string, default: dev, allowed: [dev, prod]}
    lr: {type: number, default: 1.0e-5}
    points: {type: list, default: [a, b]}
"""
TRAINER = """\
apiVersion: fwctl/v1
kind: Trainer
metadata: {name: policy, forEach: "${var.points}"}
spec:
  baseModel: accounts/fireworks/models/qwen3-8b
  trainingShape: accounts/fireworks/trainingShapes/qwen3-8b-128k-h200
  learningRate: ${var.lr}
  displayName: "${var.env} ${each.key} $${literal}"
"""


def _load(tmp_path: Path, *docs: str, **inputs: object) -> object:
    for index, text in enumerate(docs):
        (tmp_path / f"{index}.yaml").write_text(text)
    given = VariableInputs(env=inputs.pop("env", {}), **inputs)  # type: ignore[arg-type]
    return load_manifests([str(tmp_path)], variables=given)


def test_whole_values_keep_their_type_and_strings_interpolate(tmp_path: Path) -> None:
    m = _load(tmp_path, STACK, TRAINER)
    assert list(m.resources) == ["Trainer/policy[a]", "Trainer/policy[b]"]  # type: ignore[attr-defined]
    policy = m.resources["Trainer/policy[b]"]  # type: ignore[attr-defined]
    assert policy.spec.learning_rate == 1e-5
    assert policy.spec.display_name == "dev b ${literal}"
    assert m.stack.spec.state == "dev-state.json"  # type: ignore[attr-defined]
    assert m.variable_sources == {"env": "default", "lr": "default", "points": "default"}  # type: ignore[attr-defined]


def test_precedence_var_over_files_over_environment_over_default(tmp_path: Path) -> None:
    (tmp_path / "v").mkdir()
    first, second = tmp_path / "v" / "1.yml", tmp_path / "v" / "2.yml"
    first.write_text("lr: 2.0e-5\nenv: prod\n")
    second.write_text("lr: 3.0e-5\n")
    m = _load(tmp_path, STACK, files=(str(first), str(second)), env={"FWCTL_VAR_lr": "9e-5", "FWCTL_VAR_env": "dev"})
    assert m.variables["lr"] == 3e-5 and m.variable_sources["lr"].startswith("--var-file ")  # type: ignore[attr-defined]
    assert m.variables["env"] == "prod"  # type: ignore[attr-defined]
    m = _load(tmp_path, STACK, files=(str(first),), assignments=("lr=4e-5",), env={"FWCTL_VAR_points": "[x]"})
    assert m.variables == {"env": "prod", "lr": 4e-5, "points": ["x"]}  # type: ignore[attr-defined]
    assert m.variable_sources["points"] == "FWCTL_VAR_points"  # type: ignore[attr-defined]


@pytest.mark.parametrize(("inputs", "message"), [
    ({"assignments": ("env=staging",)}, "spec.variables.env: 'staging' from -var env is not one of the allowed values"),
    ({"assignments": ("points=3",)}, "spec.variables.points: 3 from -var points is not a list"),
    ({"assignments": ("nope",)}, "-var 'nope': expected NAME=VALUE"),
])
def test_bad_values_are_located_at_the_declaration(tmp_path: Path, inputs: dict[str, object], message: str) -> None:
    with pytest.raises(ManifestError) as caught:
        _load(tmp_path, STACK, TRAINER, **inputs)
    assert any(message in str(p) for p in caught.value.problems), str(caught.value)


def test_each_outside_for_each_and_a_list_inside_a_string(tmp_path: Path) -> None:
    bad = TRAINER.replace('metadata: {name: policy, forEach: "${var.points}"}', "metadata: {name: policy}")
    bad = bad.replace("learningRate: ${var.lr}", "learningRate: 1.0e-5\n  jobId: x-${var.points}")
    with pytest.raises(ManifestError) as caught:
        _load(tmp_path, STACK, bad)
    text = str(caught.value)
    assert "1.yaml:9:28: Trainer/policy: spec.displayName: ${each.key} is only available" in text
    assert "1.yaml:8:12: Trainer/policy: spec.jobId: ${var.points} is a list" in text
    assert "must be" not in text  # the unresolved values are not reported a second time


def test_remote_names_are_stable_valid_and_distinct_per_key() -> None:
    assert remote_name("policy") == "policy"
    assert remote_name("policy[1e-5]") == "policy-1e-5"
    dotted, dashed = remote_name("policy[0.001]"), remote_name("policy[0-001]")
    assert dotted != dashed and dotted.startswith("policy-0-001-") and dashed == "policy-0-001"
    assert remote_name("policy[A_b]") == remote_name("policy[A_b]")
