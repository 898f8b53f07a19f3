"""`fwctl convert cookbook`: a cookbook provisioning config (fw-ai/cookbook training/provision/*.yaml)
becomes fwctl manifests that validate and apply against `fwctl local serve`, one test per cookbook
mode; what cannot be mapped is a located error and nothing is written."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import Fwctl, LocalPlane, served_plane

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cookbook"


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPlane]:
    with served_plane(tmp_path_factory.mktemp("plane") / "local.db", "200") as served:
        yield served


def _fwctl(tmp_path: Path, plane: LocalPlane) -> Fwctl:
    work = tmp_path / "work"
    work.mkdir()
    return Fwctl(work, plane.url)


def _resources(fwctl: Fwctl, out: str) -> list[str]:
    report = json.loads(fwctl.ok("validate", "-f", out, "--json").stdout)
    assert report["valid"] is True, report
    (checked,) = report["stacks"]
    return sorted([f"Stack/{checked['stack']}", *checked["resources"]])


# (fixture, recipe, the addresses declared, trainer jobs created, deployments created)
MODES = [
    ("fireworks_sft.yaml", None, ["Stack/fireworks-sft", "Trainer/policy"], 1, 0),
    ("fireworks_rft.yaml", None, ["Deployment/rollout", "ReferenceTrainer/reference", "Stack/fireworks-rft",
                                  "SyncBinding/policy-to-rollout", "Trainer/policy"], 2, 1),
    ("fireworks_dpo.yaml", None, ["ReferenceTrainer/reference", "Stack/fireworks-dpo", "Trainer/policy"], 1, 0),
    ("fireworks_distillation.yaml", None, ["Deployment/rollout", "Stack/fireworks-distillation",
                                           "SyncBinding/policy-to-rollout", "Trainer/policy"], 1, 1),
    ("fireworks.yaml", "rl", ["Deployment/rollout", "ReferenceTrainer/reference", "Stack/fireworks-rl",
                              "SyncBinding/policy-to-rollout", "Trainer/policy"], 1, 1),
]


@pytest.mark.parametrize(("fixture", "recipe", "declared", "jobs", "deployments"), MODES,
                         ids=["sft", "rft", "dpo", "distillation", "all-in-one-rl"])
def test_each_cookbook_mode_converts_validates_and_applies(tmp_path: Path, plane: LocalPlane, fixture: str,
                                                           recipe: str | None, declared: list[str], jobs: int,
                                                           deployments: int) -> None:
    fwctl = _fwctl(tmp_path, plane)
    stack = declared[[a.split("/")[0] for a in declared].index("Stack")].split("/")[1]
    args = ["convert", "cookbook", str(FIXTURES / fixture), "--out", "stack", "--endpoint", plane.url]
    converted = fwctl.ok(*args, *(["--recipe", recipe] if recipe else []))
    for address in declared:
        if not address.startswith("Stack/"):
            assert f"  {address} <- " in converted.stdout, converted.stdout
    assert "tokenizer_model" in converted.stdout  # reported as left to the training script
    assert _resources(fwctl, "stack") == declared

    before_jobs = {t["name"] for t in plane.trainers()}
    before_deps = {d["name"] for d in plane.deployments()}
    fwctl.ok("apply", "-f", "stack", "--auto-approve")
    new_jobs = [t for t in plane.trainers() if t["name"] not in before_jobs]
    new_deps = [d for d in plane.deployments() if d["name"] not in before_deps]
    assert len(new_jobs) == jobs and len(new_deps) == deployments, (new_jobs, new_deps)
    assert all(t["state"] == "JOB_STATE_RUNNING" and f"/rlorTrainerJobs/{stack}-" in t["name"] for t in new_jobs)
    assert all(d["state"] == "READY" for d in new_deps)
    if deployments:  # the deployment is bound to the policy's job (perTrainer hot load)
        policy = json.loads(fwctl.ok("output", "-f", "stack", "--json").stdout)["Trainer/policy"]
        assert new_deps[0]["hotLoadTrainerJob"] == policy["job_name"]
    assert fwctl("plan", "-f", "stack", "--detailed-exitcode").returncode == 0  # converged: nothing left to do


def test_null_deployment_shape_becomes_the_shape_the_training_shape_links_to(tmp_path: Path,
                                                                           plane: LocalPlane) -> None:
    fwctl = _fwctl(tmp_path, plane)
    fwctl.ok("convert", "cookbook", str(FIXTURES / "fireworks_rft.yaml"), "--out", "rft", "--endpoint", plane.url)
    serving = (fwctl.cwd / "rft" / "20-serving.yaml").read_text()
    linked = plane.get("/v1/accounts/fireworks/trainingShapes/qwen3-8b-128k-h200/versions",
                       pageSize=50)
    versions = {v["snapshot"]["deploymentShapeVersion"] for v in linked.get("trainingShapeVersions", [])}
    shape = next(line.split(": ", 1)[1] for line in serving.splitlines() if "deploymentShape:" in line)
    assert shape in versions, (shape, versions)
    trainers = (fwctl.cwd / "rft" / "10-trainers.yaml").read_text()
    assert "null" not in serving + trainers and "maxContextLength" not in trainers  # null: left to the platform


def test_job_and_deployment_ids_adopt_what_exists(tmp_path: Path, plane: LocalPlane) -> None:
    fwctl = _fwctl(tmp_path, plane)
    config = (FIXTURES / "fireworks_distillation.yaml").read_text()
    config = config.replace("    job_id: null\n", "    job_id: my-existing-job\n", 1)
    config = config.replace("    deployment_id: null\n", "    deployment_id: my-existing-dep\n", 1)
    (fwctl.cwd / "cfg.yaml").write_text(config)
    out = fwctl.ok("convert", "cookbook", "cfg.yaml", "--out", "adopt").stdout
    assert "Trainer/policy <- trainers.policy (adopts job my-existing-job)" in out, out
    assert "Deployment/rollout <- deployments.rollout (adopts deployment my-existing-dep)" in out, out
    assert "jobId: my-existing-job" in (fwctl.cwd / "adopt" / "10-trainers.yaml").read_text()
    assert "deploymentId: my-existing-dep" in (fwctl.cwd / "adopt" / "20-serving.yaml").read_text()


ERRORS = [
    # (edit of fireworks_rft.yaml, the located error expected)
    (("    custom_image_tag: null\n", "    custom_image_tag: my-image\n"),
     r":27:5: trainers\.policy\.custom_image_tag: 'my-image' has no fwctl equivalent"),
    (("    replica_count: 1\n    sample_timeout", "    replica_count: 1\n    sample_timout"),
     r":18:5: deployments\.rollout\.sample_timout: not a field of the cookbook's DeployConfig"),
    (("    reference_trainer: reference\n", "    reference_trainer: referense\n"),
     r":46:5: recipe\.rft\.reference_trainer: names trainer 'referense', which trainers does not define"),
    (("  rft:\n", "  grpo:\n"), r":43:3: recipe\.grpo: no mode: name the recipe after one"),
    (("  max_seq_len: null\n", "  max_seq_len: 8192\n"),
     r":9:3: common\.max_seq_len: cannot be combined with training_shape_id"),
]


@pytest.mark.parametrize(("edit", "expected"), ERRORS,
                         ids=["unmappable", "unknown-key", "dangling-ref", "no-mode", "shape-and-context"])
def test_what_cannot_be_mapped_is_a_located_error_and_nothing_is_written(tmp_path: Path, edit: tuple[str, str],
                                                                         expected: str) -> None:
    import re

    work = tmp_path / "work"
    work.mkdir()
    old, new = edit
    text = (FIXTURES / "fireworks_rft.yaml").read_text()
    assert old in text
    (work / "cfg.yaml").write_text(text.replace(old, new, 1))
    fwctl = Fwctl(work, "local")
    result = fwctl("convert", "cookbook", "cfg.yaml", "--out", "out")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert re.search(r"^cfg\.yaml" + expected, result.stderr, re.MULTILINE), result.stderr
    assert not (work / "out").exists()


def test_existing_manifests_are_kept_unless_forced(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    fwctl = Fwctl(work, "local")
    fwctl.ok("convert", "cookbook", str(FIXTURES / "fireworks_sft.yaml"), "--out", "sft")
    trainers = work / "sft" / "10-trainers.yaml"
    trainers.write_text("# my edits\n" + trainers.read_text())
    refused = fwctl("convert", "cookbook", str(FIXTURES / "fireworks_sft.yaml"), "--out", "sft")
    assert refused.returncode == 1 and "--force" in refused.stderr, refused.stderr
    assert trainers.read_text().startswith("# my edits")
    fwctl.ok("convert", "cookbook", str(FIXTURES / "fireworks_sft.yaml"), "--out", "sft", "--force")
    assert not trainers.read_text().startswith("# my edits")
    assert sorted(p.name for p in work.iterdir()) == ["sft"]  # no temporary files left behind


def test_a_file_of_several_recipes_needs_recipe(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    result = Fwctl(work, "local")("convert", "cookbook", str(FIXTURES / "fireworks.yaml"))
    assert result.returncode == 1
    assert "pass --recipe (one of: distillation, rl, sft)" in result.stderr, result.stderr
    assert list(work.iterdir()) == []
