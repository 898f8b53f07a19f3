"""Dependency edges, stable topological order, cycle detection."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.graph import CycleError, dependencies, dependents, find_cycle, topological_order
from reconciler.manifest import load_manifests
from reconciler.model.resources import (
    Deployment,
    DeploymentSpec,
    Metadata,
    ReferenceTrainer,
    ReferenceTrainerSpec,
    Resource,
    SyncBinding,
    SyncBindingSpec,
    Trainer,
    TrainerSpec,
)

MODEL = "accounts/fireworks/models/qwen3-8b"
SHAPE = "accounts/fireworks/deploymentShapes/rft-qwen3-8b"


def _stack(scope: str = "perTrainer") -> dict[str, Resource]:
    docs: list[Resource] = [
        SyncBinding(
            metadata=Metadata(name="bind"),
            spec=SyncBindingSpec(trainer="policy", deployment="rollout", scope=scope),  # type: ignore[arg-type]
        ),
        ReferenceTrainer(metadata=Metadata(name="ref"), spec=ReferenceTrainerSpec(policy="policy")),
        Trainer(metadata=Metadata(name="policy"), spec=TrainerSpec(base_model=MODEL)),
        Deployment(metadata=Metadata(name="rollout"), spec=DeploymentSpec(base_model=MODEL, deployment_shape=SHAPE)),
    ]
    return {d.address: d for d in docs}


def test_dependencies_per_trainer() -> None:
    assert dependencies(_stack()) == {
        "SyncBinding/bind": {"Trainer/policy", "Deployment/rollout"},
        "ReferenceTrainer/ref": {"Trainer/policy"},
        "Trainer/policy": set(),
        "Deployment/rollout": set(),
    }
    assert topological_order(dependencies(_stack())) == [
        "Trainer/policy",
        "ReferenceTrainer/ref",
        "Deployment/rollout",
        "SyncBinding/bind",
    ]


def test_per_deployment_trainer_waits_for_its_deployment() -> None:
    deps = dependencies(_stack("perDeployment"))
    assert deps["Trainer/policy"] == {"Deployment/rollout"}
    assert topological_order(deps) == [
        "Deployment/rollout",
        "Trainer/policy",
        "SyncBinding/bind",
        "ReferenceTrainer/ref",
    ]


def test_edges_to_missing_resources_are_dropped() -> None:
    stack = _stack()
    del stack["Trainer/policy"]
    assert dependencies(stack)["ReferenceTrainer/ref"] == set()


def test_order_is_stable_in_input_order() -> None:
    deps: dict[str, set[str]] = {"c": set(), "a": set(), "b": {"c"}, "d": {"a", "b"}}
    assert topological_order(deps) == ["c", "a", "b", "d"]
    assert topological_order({k: deps[k] for k in ["a", "b", "c", "d"]}) == ["a", "c", "b", "d"]


def test_unknown_targets_count_as_satisfied() -> None:
    assert topological_order({"a": {"elsewhere"}, "b": {"a"}}) == ["a", "b"]


def test_find_cycle_and_order_refuses_cycles() -> None:
    deps: dict[str, set[str]] = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}
    assert find_cycle(deps) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"a"}}) == ["a", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    with pytest.raises(CycleError) as caught:
        topological_order(deps)
    assert str(caught.value) == "dependency cycle: a -> b -> c -> a"


def test_dependents() -> None:
    assert dependents({"a": set(), "b": {"a"}, "c": {"a", "b"}}) == {"a": {"b", "c"}, "b": {"c"}, "c": set()}


def test_large_chain_is_iterative() -> None:
    deps = {f"n{i}": ({f"n{i + 1}"} if i < 5000 else set()) for i in range(5001)}
    order = topological_order(deps)
    assert order[0] == "n5000" and order[-1] == "n0"


def test_examples_order() -> None:
    root = Path(__file__).resolve().parent.parent / "manifests" / "examples" / "grpo"
    order = topological_order(dependencies(load_manifests([str(root)]).resources))
    assert order.index("Trainer/policy") < order.index("ReferenceTrainer/reference")
    assert order[-1] == "SyncBinding/policy-to-rollout"
