"""Loading manifests: files, directories, stdin, the CLI, positions, digests, hostile input."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli import main
from reconciler.manifest import ManifestError, Manifests, discover_stacks, load_manifests
from reconciler.model.resources import Deployment, ReferenceTrainer, Stack, SyncBinding, Trainer

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "manifests" / "examples"

STACK = "apiVersion: fwctl/v1\nkind: Stack\nmetadata: {name: demo}\n"
TRAINER = (
    "apiVersion: fwctl/v1\nkind: Trainer\nmetadata: {name: policy}\nspec:\n"
    "  baseModel: accounts/fireworks/models/qwen3-8b\n  learningRate: 1e-5\n"
)
DEPLOYMENT = (
    "apiVersion: fwctl/v1\nkind: Deployment\nmetadata: {name: rollout}\nspec:\n"
    "  baseModel: accounts/fireworks/models/qwen3-8b\n"
    "  deploymentShape: accounts/fireworks/deploymentShapes/rft-qwen3-8b\n"
)
BINDING = (
    "apiVersion: fwctl/v1\nkind: SyncBinding\nmetadata: {name: bind}\nspec:\n"
    "  trainer: policy\n  deployment: rollout\n  snapshot: step-00100\n"
)


def _problems(paths: list[str]) -> list[str]:
    with pytest.raises(ManifestError) as caught:
        load_manifests(paths)
    return [str(p) for p in caught.value.problems]


# --- the examples -------------------------------------------------------------------------------


def test_cli_validates_the_examples() -> None:
    result = CliRunner().invoke(main, ["validate", "-f", str(EXAMPLES)])
    assert result.exit_code == 0, result.output
    assert "✓ 4 resources valid in stack grpo-qwen3-8b" in result.output
    assert "✓ 4 resources valid in stack dpo-qwen3-8b-lora" in result.output
    assert "✓ 1 resource valid in stack sft-qwen3-8b" in result.output


def test_grpo_example_model() -> None:
    manifests = load_manifests([str(EXAMPLES / "grpo")])
    assert manifests.stack_name == "grpo-qwen3-8b"
    assert isinstance(manifests.stack, Stack) and manifests.stack.spec.region == "US_VIRGINIA_1"
    assert list(manifests.resources) == [
        "Trainer/policy",
        "ReferenceTrainer/reference",
        "Deployment/rollout",
        "SyncBinding/policy-to-rollout",
    ]
    policy = manifests.resources["Trainer/policy"]
    assert isinstance(policy, Trainer)
    assert policy.spec.inactivity_timeout == 3600 and policy.spec.timeouts.create == 3600
    assert policy.spec.learning_rate == 1e-5 and policy.metadata.labels == {"team": "rl"}
    reference = manifests.resources["ReferenceTrainer/reference"]
    assert isinstance(reference, ReferenceTrainer) and reference.spec.training_shape is not None
    rollout = manifests.resources["Deployment/rollout"]
    assert isinstance(rollout, Deployment) and rollout.spec.hot_load.transition == "SYNC"
    binding = manifests.resources["SyncBinding/policy-to-rollout"]
    assert isinstance(binding, SyncBinding) and binding.spec.scope == "perTrainer"
    assert [name for name, _text in manifests.sources] == [
        str(EXAMPLES / "grpo" / name) for name in ("00-stack.yaml", "10-trainers.yaml", "20-serving.yaml")
    ]


def test_models_are_frozen() -> None:
    manifests = load_manifests([str(EXAMPLES / "sft")])
    trainer = manifests.resources["Trainer/sft"]
    with pytest.raises(ValueError):
        trainer.spec.lora_rank = 3  # type: ignore[misc]


# --- files, directories, stdin --------------------------------------------------------------------


def test_multi_document_file_and_default_stack(tmp_path: Path) -> None:
    path = tmp_path / "all.yml"
    path.write_text("---\n" + TRAINER + "---\n" + DEPLOYMENT + "---\n" + BINDING + "---\n")
    manifests = load_manifests([str(path)])
    assert manifests.stack is None and manifests.stack_name == "default"
    assert list(manifests.resources) == ["Trainer/policy", "Deployment/rollout", "SyncBinding/bind"]


def test_directory_reads_yaml_and_yml_sorted(tmp_path: Path) -> None:
    (tmp_path / "b.yml").write_text(DEPLOYMENT)
    (tmp_path / "a.yaml").write_text(TRAINER)
    (tmp_path / "c.yaml").write_text(BINDING)
    (tmp_path / "notes.txt").write_text("not yaml: [")
    (tmp_path / ".hidden.yaml").write_text("junk: [")
    manifests = load_manifests([str(tmp_path)])
    assert list(manifests.resources) == ["Trainer/policy", "Deployment/rollout", "SyncBinding/bind"]


def test_several_paths_form_one_stack(tmp_path: Path) -> None:
    (tmp_path / "stack.yaml").write_text(STACK)
    sub = tmp_path / "serving"
    sub.mkdir()
    (sub / "d.yaml").write_text(DEPLOYMENT + "---\n" + BINDING)
    (tmp_path / "trainer.yaml").write_text(TRAINER)
    manifests = load_manifests([str(tmp_path / "stack.yaml"), str(sub), str(tmp_path / "trainer.yaml")])
    assert manifests.stack_name == "demo"
    assert set(manifests.resources) == {"Trainer/policy", "Deployment/rollout", "SyncBinding/bind"}


def test_same_file_twice_is_read_once(tmp_path: Path) -> None:
    (tmp_path / "t.yaml").write_text(TRAINER)
    manifests = load_manifests([str(tmp_path), str(tmp_path / "t.yaml")])
    assert list(manifests.resources) == ["Trainer/policy"]


def test_stdin(tmp_path: Path) -> None:
    manifests = load_manifests(["-"], stdin=io.BytesIO((TRAINER + "---\n" + DEPLOYMENT).encode()))
    assert manifests.sources[0][0] == "<stdin>"
    assert manifests.locate("Deployment/rollout", "spec.deploymentShape") == "<stdin>:13:3"


def test_cli_stdin_and_several_f() -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["validate", "-f", "-"], input=TRAINER + "  loraRank: -1\n")
    assert result.exit_code == 1
    assert "<stdin>:7:3: Trainer/policy: spec.loraRank: must be greater than or equal to 0 (got -1)" in result.output


def test_cli_several_f(tmp_path: Path) -> None:
    (tmp_path / "t.yaml").write_text(TRAINER)
    (tmp_path / "d.yaml").write_text(DEPLOYMENT + "---\n" + BINDING)
    result = CliRunner().invoke(main, ["validate", "-f", str(tmp_path / "t.yaml"), "-f", str(tmp_path / "d.yaml")])
    assert result.exit_code == 0, result.output
    assert "✓ 3 resources valid in stack default" in result.output


def test_cli_default_is_current_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "t.yaml").write_text(TRAINER)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["validate"])
    assert result.exit_code == 0, result.output
    assert "✓ 1 resource valid in stack default" in result.output


def test_cli_json_output(tmp_path: Path) -> None:
    (tmp_path / "t.yaml").write_text(TRAINER.replace("policy", "Policy"))
    result = CliRunner().invoke(main, ["validate", "-f", str(tmp_path), "-o", "json"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["valid"] is False
    (problem,) = report["stacks"][0]["problems"]
    assert (problem["line"], problem["field"]) == (3, "metadata.name")


def test_problems_go_to_stderr_in_a_subprocess(tmp_path: Path) -> None:
    (tmp_path / "t.yaml").write_text(TRAINER.replace("baseModel", "baseModle"))
    run = subprocess.run(
        [sys.executable, "-m", "reconciler.cli", "validate", "-f", str(tmp_path)], capture_output=True, text=True
    )
    assert run.returncode == 1
    assert run.stdout == ""
    assert "t.yaml:5:3: Trainer/policy: spec.baseModle: unknown field 'baseModle' (did you mean baseModel?)" in run.stderr
    assert "Traceback" not in run.stderr


def test_missing_path_and_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    assert _problems([str(tmp_path / "nope.yaml"), str(tmp_path / "empty")]) == [
        f"{tmp_path / 'nope.yaml'}: no such file or directory",
        f"{tmp_path / 'empty'}: no manifest files (*.yaml, *.yml) in this directory",
    ]


def test_empty_documents_are_skipped(tmp_path: Path) -> None:
    (tmp_path / "t.yaml").write_text("# only a comment\n---\n---\n" + TRAINER + "---\n")
    assert list(load_manifests([str(tmp_path)]).resources) == ["Trainer/policy"]


def test_discover_stacks(tmp_path: Path) -> None:
    for name in ("one", "two"):
        (tmp_path / "stacks" / name).mkdir(parents=True)
        (tmp_path / "stacks" / name / "t.yaml").write_text(TRAINER)
    (tmp_path / "extra.yaml").write_text(TRAINER)
    groups = discover_stacks([str(tmp_path / "stacks"), str(tmp_path / "extra.yaml")])
    assert groups == [
        [str(tmp_path / "extra.yaml")],
        [str(tmp_path / "stacks" / "one")],
        [str(tmp_path / "stacks" / "two")],
    ]


# --- positions and digest -----------------------------------------------------------------------


def test_locate(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(STACK + "---\n" + TRAINER + "---\n" + DEPLOYMENT + "---\n" + BINDING)
    manifests: Manifests = load_manifests([str(path)])
    assert manifests.locate("Trainer/policy") == f"{path}:5:1"
    assert manifests.locate("SyncBinding/bind", "spec.snapshot") == f"{path}:25:3"
    assert manifests.locate("Trainer/policy", "metadata.name") == f"{path}:7:12"
    # not written in the file: the closest written ancestor
    assert manifests.locate("Trainer/policy", "spec.lifecycle.onDestroy") == f"{path}:8:1"
    with pytest.raises(KeyError):
        manifests.locate("Trainer/ghost")


def test_digest_ignores_formatting_and_order(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "x.yaml").write_text(TRAINER + "---\n" + DEPLOYMENT)
    (b / "x.yaml").write_text("# reordered, reformatted\n" + DEPLOYMENT + "---\n" + TRAINER.replace("1e-5", "0.00001"))
    first, second = load_manifests([str(a)]), load_manifests([str(b)])
    assert first.digest == second.digest and len(first.digest) == 64
    (b / "x.yaml").write_text(DEPLOYMENT + "---\n" + TRAINER.replace("1e-5", "2e-5"))
    assert load_manifests([str(b)]).digest != first.digest


# --- hostile input -----------------------------------------------------------------------------


def test_binary_junk(tmp_path: Path) -> None:
    (tmp_path / "junk.yaml").write_bytes(b"kind: Trainer\n\xff\xfe\x00\x01garbage")
    (problem,) = _problems([str(tmp_path)])
    assert problem.startswith(f"{tmp_path / 'junk.yaml'}:2:1: not UTF-8 text")


def test_control_characters(tmp_path: Path) -> None:
    (tmp_path / "nul.yaml").write_text("kind: Trainer\nmetadata: {name: \x00}\n")
    (problem,) = _problems([str(tmp_path)])
    assert "nul.yaml:2:" in problem and "unacceptable character U+0000" in problem


def test_huge_file(tmp_path: Path) -> None:
    from reconciler.manifest import MAX_FILE_BYTES

    (tmp_path / "big.yaml").write_text("# " + "x" * MAX_FILE_BYTES + "\n")
    (problem,) = _problems([str(tmp_path)])
    assert "file too large" in problem


def test_billion_laughs(tmp_path: Path) -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    (tmp_path / "lol.yaml").write_text("\n".join(lines) + "\n")
    (problem,) = _problems([str(tmp_path)])
    assert "document too large" in problem and "aliases" in problem


def test_recursive_alias(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text("apiVersion: fwctl/v1\nkind: Stack\nmetadata: &m {name: x, self: *m}\n")
    problems = _problems([str(tmp_path)])
    assert any("r.yaml:3:" in p and ("recursive alias" in p or "undefined alias" in p) for p in problems), problems


def test_recursive_anchor_in_block(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text("a: &a\n  - *a\n")
    (problem,) = _problems([str(tmp_path)])
    assert "recursive alias" in problem


def test_deep_nesting(tmp_path: Path) -> None:
    depth = 100_000
    (tmp_path / "deep.yaml").write_text("[" * depth + "]" * depth + "\n")
    (problem,) = _problems([str(tmp_path)])
    assert "deep" in problem


def test_too_many_documents_in_one_file_is_refused_quickly(tmp_path: Path) -> None:
    # 40,000 tiny documents would take the YAML reader about a minute; the limit answers at once.
    (tmp_path / "many.yaml").write_text("---\napiVersion: fwctl/v1\nkind: Stack\nmetadata: {name: s}\n" * 40_000)
    started = time.perf_counter()
    (problem,) = _problems([str(tmp_path)])
    assert "many.yaml" in problem and "too many documents (40000; the limit is 5000 per file)" in problem
    assert time.perf_counter() - started < 5


def test_aliases_and_merge_keys_work(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text(
        "x-common: &common {baseModel: accounts/fireworks/models/qwen3-8b}\n"
        "apiVersion: fwctl/v1\nkind: Trainer\nmetadata: {name: t}\nspec:\n  <<: *common\n  loraRank: 8\n"
    )
    problems = _problems([str(tmp_path)])
    assert problems == [f"{tmp_path / 'm.yaml'}:1:1: Trainer/t: x-common: unknown field 'x-common' "
                        "(expected one of: apiVersion, kind, metadata, spec)"]
    (tmp_path / "m.yaml").write_text(
        "apiVersion: fwctl/v1\nkind: Trainer\nmetadata: {name: t}\n"
        "spec:\n  <<: {baseModel: accounts/fireworks/models/qwen3-8b, loraRank: 4}\n  loraRank: 8\n"
    )
    trainer = load_manifests([str(tmp_path)]).resources["Trainer/t"]
    assert isinstance(trainer, Trainer) and trainer.spec.lora_rank == 8


# --- start-up cost -----------------------------------------------------------------------------

HEAVY = ("tinker", "httpx", "starlette", "uvicorn", "psycopg")


@pytest.mark.parametrize("argv", [["--help"], ["validate", "-f", str(EXAMPLES)]], ids=["help", "validate"])
def test_light_commands_import_no_heavy_stack(argv: list[str]) -> None:
    code = (
        "import sys\n"
        "from reconciler.cli import main\n"
        f"try:\n    main({argv!r})\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
        f"heavy = sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})\n"
        "sys.stderr.write(repr(heavy))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    assert run.returncode == 0, run.stderr
    assert run.stderr.strip().splitlines()[-1] == "[]"
