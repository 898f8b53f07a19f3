"""Every manifest rule: a bad manifest in, one located problem out (message, file, line, field).

Each case is appended to a small valid stack. The line that must be reported carries ``# <-``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from reconciler.manifest import ManifestError, load_manifests

BASE = """\
apiVersion: fwctl/v1
kind: Stack
metadata: {name: s}
---
apiVersion: fwctl/v1
kind: Trainer
metadata: {name: policy}
spec:
  baseModel: accounts/fireworks/models/qwen3-8b
---
apiVersion: fwctl/v1
kind: Deployment
metadata: {name: rollout}
spec:
  baseModel: accounts/fireworks/models/qwen3-8b
  deploymentShape: accounts/fireworks/deploymentShapes/rft-qwen3-8b
"""

TRAINER = """\
apiVersion: fwctl/v1
kind: Trainer
metadata: {name: extra}
spec:
  baseModel: accounts/fireworks/models/qwen3-8b
"""

DEPLOYMENT = """\
apiVersion: fwctl/v1
kind: Deployment
metadata: {name: extra}
spec:
  baseModel: accounts/fireworks/models/qwen3-8b
"""

BINDING = """\
apiVersion: fwctl/v1
kind: SyncBinding
metadata: {name: bind}
spec:
  trainer: policy
  deployment: rollout
"""

# (id, document appended to BASE, address, field, message regex)
CASES: list[tuple[str, str, str | None, str | None, str]] = [
    # names and ids
    ("name-dns-label", TRAINER.replace("{name: extra}", "{name: Bad_Name}  # <-"), "Trainer/Bad_Name",
     "metadata.name", r"must be a DNS label"),
    ("name-too-long", TRAINER.replace("{name: extra}", "{name: " + "a" * 55 + "}  # <-"), "Trainer/" + "a" * 55,
     "metadata.name", r"name too long: stack 's' and name '" + "a" * 55 + "' have 56 characters"),
    ("name-too-long-deployment", DEPLOYMENT.replace("{name: extra}", "{name: " + "d" * 55 + "}  # <-")
     + "  deploymentShape: accounts/fireworks/deploymentShapes/rft-qwen3-8b\n", "Deployment/" + "d" * 55,
     "metadata.name", r"name too long"),
    ("job-id-invalid", TRAINER + "  jobId: Job_1  # <-\n", "Trainer/extra", "spec.jobId", r"must be a valid platform id"),
    ("deployment-id-too-long", DEPLOYMENT + "  deploymentShape: accounts/fireworks/deploymentShapes/x\n"
     + "  deploymentId: " + "a" * 64 + "  # <-\n", "Deployment/extra", "spec.deploymentId", r"at most 63 characters"),
    # names of platform objects
    ("base-model", TRAINER.replace("accounts/fireworks/models/qwen3-8b", "qwen3-8b  # <-"), "Trainer/extra",
     "spec.baseModel", r"must be a model name like accounts/fireworks/models/qwen3-8b \(got 'qwen3-8b'\)"),
    ("training-shape", TRAINER + "  trainingShape: accounts/fireworks/shapes/x  # <-\n", "Trainer/extra",
     "spec.trainingShape", r"must be a training shape like accounts/fireworks/trainingShapes/"),
    ("training-shape-version-ok-but-bad-tail", TRAINER + "  trainingShape: accounts/f/trainingShapes/x/v/1  # <-\n",
     "Trainer/extra", "spec.trainingShape", r"must be a training shape"),
    ("deployment-shape", DEPLOYMENT + "  deploymentShape: accounts/fireworks/trainingShapes/x  # <-\n",
     "Deployment/extra", "spec.deploymentShape", r"must be a deployment shape like"),
    # trainer: shape xor manual accelerator fields
    ("shape-and-accelerator", TRAINER + "  trainingShape: accounts/fireworks/trainingShapes/qwen3-8b-128k-lora\n"
     "  accelerator: {type: NVIDIA_H200_141GB, count: 8}  # <-\n", "Trainer/extra", "spec.accelerator",
     r"cannot be combined with trainingShape"),
    ("shape-and-node-count", TRAINER + "  trainingShape: accounts/fireworks/trainingShapes/qwen3-8b-128k-lora\n"
     "  nodeCount: 2  # <-\n", "Trainer/extra", "spec.nodeCount", r"cannot be combined with trainingShape"),
    ("shape-and-max-context", TRAINER + "  trainingShape: accounts/fireworks/trainingShapes/qwen3-8b-128k-lora\n"
     "  maxContextLength: 8192  # <-\n", "Trainer/extra", "spec.maxContextLength",
     r"cannot be combined with trainingShape"),
    # trainer ranges
    ("lora-rank", TRAINER + "  loraRank: -1  # <-\n", "Trainer/extra", "spec.loraRank",
     r"must be greater than or equal to 0 \(got -1\)"),
    ("learning-rate-zero", TRAINER + "  learningRate: 0  # <-\n", "Trainer/extra", "spec.learningRate",
     r"must be greater than 0"),
    ("learning-rate-negative-exponent", TRAINER + "  learningRate: -1e-5  # <-\n", "Trainer/extra",
     "spec.learningRate", r"must be greater than 0"),
    ("learning-rate-string", TRAINER + "  learningRate: fast  # <-\n", "Trainer/extra", "spec.learningRate",
     r"must be a valid number \(got 'fast'\)"),
    ("replica-count", TRAINER + "  replicaCount: 0  # <-\n", "Trainer/extra", "spec.replicaCount",
     r"must be greater than or equal to 1"),
    ("lora-rank-bool", TRAINER + "  loraRank: true  # <-\n", "Trainer/extra", "spec.loraRank",
     r"must be a valid integer \(got true\)"),
    ("inactivity-timeout-max", TRAINER + "  inactivityTimeout: 4h  # <-\n", "Trainer/extra",
     "spec.inactivityTimeout", r"must be at most 3h \(got 4h\)"),
    ("inactivity-timeout-seconds-max", TRAINER + "  inactivityTimeout: 10801  # <-\n", "Trainer/extra",
     "spec.inactivityTimeout", r"must be at most 3h \(got 3h1s\)"),
    ("inactivity-timeout-format", TRAINER + "  inactivityTimeout: soon  # <-\n", "Trainer/extra",
     "spec.inactivityTimeout", r"must be a duration such as 90s, 30m or 2h"),
    ("timeout-format", TRAINER + "  timeouts: {create: 1 hour}  # <-\n", "Trainer/extra", "spec.timeouts.create",
     r"must be a duration"),
    ("display-name", TRAINER + "  displayName: " + "x" * 64 + "  # <-\n", "Trainer/extra", "spec.displayName",
     r"must have at most 63 characters"),
    # deployment
    ("deployment-needs-shape-or-accelerator", DEPLOYMENT.replace("spec:", "spec:  # <-"), "Deployment/extra",
     "spec.deploymentShape", r"a Deployment needs a deploymentShape \(a shape name, or default\), or an accelerator"),
    # issue 13 point 4: the platform accepts a shapeless deployment without acceptShapelessRisk (a plan-time
    # warning, tests/e2e/test_plan_warnings.py), but refuses the flag together with a shape
    ("shapeless-risk-with-shape", DEPLOYMENT + "  deploymentShape: accounts/fireworks/deploymentShapes/x\n"
     "  acceptShapelessRisk: true  # <-\n", "Deployment/extra", "spec.acceptShapelessRisk",
     r"cannot be combined with deploymentShape \(the platform refuses the combination\)"),
    ("deployment-shape-pattern", DEPLOYMENT + "  deploymentShape: defaults  # <-\n", "Deployment/extra",
     "spec.deploymentShape", r"must be a deployment shape like .* or default"),
    ("deployment-shape-and-accelerator", DEPLOYMENT
     + "  deploymentShape: accounts/fireworks/deploymentShapes/rft-qwen3-8b\n"
     + "  accelerator: {type: NVIDIA_H200_141GB, count: 1}  # <-\n", "Deployment/extra", "spec.accelerator",
     r"cannot be combined with deploymentShape"),
    ("replicas-min-gt-max", DEPLOYMENT + "  deploymentShape: accounts/fireworks/deploymentShapes/x\n"
     "  replicas:\n    min: 3  # <-\n    max: 1\n", "Deployment/extra", "spec.replicas.min",
     r"replicas.min \(3\) must not exceed replicas.max \(1\)"),
    ("replicas-negative", DEPLOYMENT + "  deploymentShape: accounts/fireworks/deploymentShapes/x\n"
     "  replicas: {min: -1, max: 1}  # <-\n", "Deployment/extra", "spec.replicas.min",
     r"must be greater than or equal to 0"),
    # enums
    ("enum-trainer-on-destroy", TRAINER + "  lifecycle: {onDestroy: scaleToZero}  # <-\n", "Trainer/extra",
     "spec.lifecycle.onDestroy", r"must be 'delete' or 'retain' \(got 'scaleToZero'\)"),
    ("enum-deployment-on-destroy", DEPLOYMENT + "  deploymentShape: accounts/fireworks/deploymentShapes/x\n"
     "  lifecycle: {onDestroy: park}  # <-\n", "Deployment/extra", "spec.lifecycle.onDestroy",
     r"must be 'scaleToZero', 'delete' or 'retain'"),
    ("enum-bucket-type", DEPLOYMENT + "  deploymentShape: accounts/fireworks/deploymentShapes/x\n"
     "  hotLoad: {bucketType: GCS}  # <-\n", "Deployment/extra", "spec.hotLoad.bucketType",
     r"must be 'FW_HOSTED', 'MINIO', 'S3' or 'NEBIUS'"),
    ("enum-transition", DEPLOYMENT + "  deploymentShape: accounts/fireworks/deploymentShapes/x\n"
     "  hotLoad: {transition: LAZY}  # <-\n", "Deployment/extra", "spec.hotLoad.transition",
     r"must be 'ASYNC' or 'SYNC'"),
    ("enum-scope", BINDING + "  scope: perStack  # <-\n", "SyncBinding/bind", "spec.scope",
     r"must be 'perTrainer' or 'perDeployment'"),
    # fields
    ("unknown-field", TRAINER + "  baseModle: x  # <-\n", "Trainer/extra", "spec.baseModle",
     r"unknown field 'baseModle' \(did you mean baseModel\?\)"),
    ("snake-case-field", TRAINER + "  lora_rank: 8  # <-\n", "Trainer/extra", "spec.lora_rank",
     r"unknown field 'lora_rank' \(did you mean loraRank\? fields are camelCase\)"),
    ("unknown-top-level-field", TRAINER.replace("spec:", "specs: {}  # <-\nspec:"), "Trainer/extra", "specs",
     r"unknown field 'specs' \(did you mean spec\?\)"),
    ("missing-field", TRAINER.replace("  baseModel: accounts/fireworks/models/qwen3-8b\n", "  loraRank: 8\n")
     .replace("spec:", "spec:  # <-"), "Trainer/extra", "spec.baseModel", r"required field is missing"),
    ("ignore-changes-unknown", TRAINER + "  lifecycle:\n    ignoreChanges:\n    - learningRate\n"
     "    - replica  # <-\n", "Trainer/extra", "spec.lifecycle.ignoreChanges.1",
     r"unknown field path 'replica' \(did you mean replicaCount\?\)"),
    ("ignore-changes-deployment", DEPLOYMENT + "  deploymentShape: accounts/fireworks/deploymentShapes/x\n"
     "  lifecycle: {ignoreChanges: [replicas.maxx]}  # <-\n", "Deployment/extra",
     "spec.lifecycle.ignoreChanges.0", r"unknown field path 'replicas.maxx' \(did you mean replicas.max\?\)"),
    ("labels-not-strings", TRAINER.replace("{name: extra}", "{name: extra, labels: {tier: 1}}  # <-"),
     "Trainer/extra", "metadata.labels.tier", r"must be a valid string \(got 1\)"),
    # header
    ("api-version", TRAINER.replace("fwctl/v1", "fwctl/v2  # <-"), "Trainer/extra", "apiVersion",
     r"unknown apiVersion 'fwctl/v2' \(expected fwctl/v1\)"),
    ("api-version-missing", TRAINER.replace("apiVersion: fwctl/v1\n", "").replace("kind:", "kind:", 1)
     .replace("kind: Trainer", "kind: Trainer  # <-"), "Trainer/extra", "apiVersion", r"missing apiVersion"),
    ("kind-unknown", TRAINER.replace("kind: Trainer", "kind: Trainr  # <-"), None, "kind",
     r"unknown kind 'Trainr' \(did you mean Trainer\?\)"),
    ("kind-missing", TRAINER.replace("kind: Trainer\n", "").replace("apiVersion: fwctl/v1", "apiVersion: fwctl/v1  # <-"),
     None, "kind", r"missing kind \(one of Stack, Trainer, ReferenceTrainer, Deployment, SyncBinding\)"),
    ("not-a-mapping", "- just\n- a list  # <-\n".replace("- just", "- just  # <-").replace("- a list  # <-", "- a list"),
     None, None, r"a manifest document must be a mapping .* \(got a list\)"),
    # cross-document
    ("duplicate-address", TRAINER.replace("{name: extra}", "{name: policy}  # <-"), "Trainer/policy",
     "metadata.name", r"duplicate address Trainer/policy \(first defined at .*:5:1\)"),
    ("second-stack", "apiVersion: fwctl/v1  # <-\nkind: Stack\nmetadata: {name: other}\n", "Stack/other", None,
     r"more than one Stack .*\(Stack/s is at .*:1:1\)"),
    ("reference-missing", "apiVersion: fwctl/v1\nkind: ReferenceTrainer\nmetadata: {name: ref}\nspec:\n"
     "  policy: nope  # <-\n", "ReferenceTrainer/ref", "spec.policy",
     r"refers to Trainer/nope, which is not declared in this stack"),
    ("reference-wrong-kind", "apiVersion: fwctl/v1\nkind: ReferenceTrainer\nmetadata: {name: ref}\nspec:\n"
     "  policy: rollout  # <-\n", "ReferenceTrainer/ref", "spec.policy",
     r"'rollout' is a Deployment in this stack, not a Trainer"),
    ("binding-trainer-missing", BINDING.replace("trainer: policy", "trainer: ghost  # <-"), "SyncBinding/bind",
     "spec.trainer", r"refers to Trainer/ghost, which is not declared"),
    ("binding-deployment-wrong-kind", BINDING.replace("deployment: rollout", "deployment: policy  # <-"),
     "SyncBinding/bind", "spec.deployment", r"'policy' is a Trainer in this stack, not a Deployment"),
    ("deployment-bound-twice", BINDING + "---\n" + BINDING.replace("{name: bind}", "{name: bind2}")
     .replace("deployment: rollout", "deployment: rollout  # <-"), "SyncBinding/bind2", "spec.deployment",
     r"Deployment/rollout is already bound by SyncBinding/bind \(at .*\)"),
    ("per-deployment-with-job-id", TRAINER.replace("{name: extra}", "{name: adopted}") + "  jobId: some-job\n---\n"
     + BINDING.replace("trainer: policy", "trainer: adopted") + "  scope: perDeployment  # <-\n",
     "SyncBinding/bind", "spec.scope", r"scope perDeployment creates Trainer/adopted .* sets jobId"),
    ("binding-hot-load-disabled", DEPLOYMENT + "  deploymentShape: accounts/fireworks/deploymentShapes/x\n"
     "  hotLoad: {enabled: false}\n---\n" + BINDING.replace("deployment: rollout", "deployment: extra  # <-"),
     "SyncBinding/bind", "spec.deployment", r"Deployment/extra sets hotLoad.enabled: false"),
    # YAML itself
    ("duplicate-yaml-key", TRAINER + "  baseModel: accounts/fireworks/models/qwen3-4b  # <-\n", None, None,
     r"duplicate key 'baseModel' \(first at line \d+\)"),
    ("yaml-syntax", TRAINER + "  annotations: {a: b: c}  # <-\n", None, None,
     r"YAML syntax error: while parsing a flow mapping: did not find expected ',' or '}'"),
    ("yaml-syntax-unclosed", TRAINER + "  annotations: [a, b\n  region: x  # <-\n", None, None,
     r"YAML syntax error: while parsing a flow sequence \(started at line 23\): did not find expected ',' or ']'"),
]


def _expected_line(text: str) -> int:
    for number, line in enumerate(text.splitlines(), start=1):
        if "# <-" in line:
            return number
    raise AssertionError("case has no '# <-' marker")


@pytest.mark.parametrize(("document", "address", "field", "pattern"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_rule(tmp_path: Path, document: str, address: str | None, field: str | None, pattern: str) -> None:
    text = BASE + "---\n" + document
    path = tmp_path / "stack.yaml"
    path.write_text(text)
    with pytest.raises(ManifestError) as caught:
        load_manifests([str(path)])
    problems = caught.value.problems
    assert len(problems) == 1, "\n".join(map(str, problems))
    problem = problems[0]
    assert problem.file == str(path)
    assert problem.line == _expected_line(text), str(problem)
    assert problem.address == address
    assert problem.field == field
    assert re.search(pattern, problem.message), str(problem)
    # the one-line form a person reads
    rendered = str(problem)
    assert rendered.startswith(f"{path}:{problem.line}:{problem.col}: ")
    assert " ".join(p for p in (address, field) if p) in rendered.replace(": ", " ")


def test_base_is_valid(tmp_path: Path) -> None:
    path = tmp_path / "stack.yaml"
    path.write_text(BASE)
    manifests = load_manifests([str(path)])
    assert list(manifests.resources) == ["Trainer/policy", "Deployment/rollout"]


def test_all_problems_in_one_run(tmp_path: Path) -> None:
    path = tmp_path / "stack.yaml"
    path.write_text(
        BASE
        + "---\n"
        + TRAINER.replace("{name: extra}", "{name: a}")
        + "  loraRank: -1\n---\n"
        + TRAINER.replace("{name: extra}", "{name: b}")
        + "  learningRate: 0\n---\n"
        + BINDING.replace("trainer: policy", "trainer: ghost")
    )
    with pytest.raises(ManifestError) as caught:
        load_manifests([str(path)])
    fields = [(p.address, p.field) for p in caught.value.problems]
    assert fields == [
        ("Trainer/a", "spec.loraRank"),
        ("Trainer/b", "spec.learningRate"),
        ("SyncBinding/bind", "spec.trainer"),
    ]
    assert str(caught.value).count("\n") == 2  # one line per problem


def test_explicit_ids_lift_the_name_length_rule(tmp_path: Path) -> None:
    long = "a" * 55
    path = tmp_path / "stack.yaml"
    path.write_text(
        BASE
        + "---\n"
        + TRAINER.replace("{name: extra}", "{name: " + long + "}")
        + "  jobId: existing-job\n"
    )
    assert f"Trainer/{long}" in load_manifests([str(path)]).resources


def test_dependency_cycle_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # No combination of today's kinds can form a cycle (deployments depend on nothing); the check
    # still guards the planner, so feed it a cyclic graph through the dependency function.
    import reconciler.manifest._checks as checks

    monkeypatch.setattr(
        checks,
        "dependencies",
        lambda resources: {"Trainer/policy": {"Deployment/rollout"}, "Deployment/rollout": {"Trainer/policy"}},
    )
    path = tmp_path / "stack.yaml"
    path.write_text(BASE)
    with pytest.raises(ManifestError) as caught:
        load_manifests([str(path)])
    (problem,) = caught.value.problems
    assert problem.message == "dependency cycle: Trainer/policy -> Deployment/rollout -> Trainer/policy"
    assert (problem.line, problem.address) == (5, "Trainer/policy")
