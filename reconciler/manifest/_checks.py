"""Rules that need the whole stack: one Stack, unique addresses, id lengths, references, bindings, cycles."""

from __future__ import annotations

from collections.abc import Sequence

from reconciler.graph import dependencies, find_cycle
from reconciler.manifest._document import Validated, problem_at
from reconciler.model.problems import Problem
from reconciler.model.resources import (
    MAX_STACK_PLUS_NAME,
    Deployment,
    ReferenceTrainer,
    Resource,
    Stack,
    SyncBinding,
    Trainer,
)

DEFAULT_STACK_NAME = "default"


def _where(doc: Validated) -> str:
    line, col = doc.source.position
    return f"{doc.source.file}:{line}:{col}"


def stack_of(documents: Sequence[Validated]) -> tuple[Validated | None, list[Problem]]:
    """The Stack document (the first, if several) and a problem for every extra one."""
    stacks = [d for d in documents if d.kind == "Stack"]
    problems = [
        problem_at(
            extra.source,
            extra.address,
            (),
            f"more than one Stack in this set of manifests ({stacks[0].address} is at {_where(stacks[0])}); "
            "a stack has at most one Stack document",
        )
        for extra in stacks[1:]
    ]
    return (stacks[0] if stacks else None), problems


def check_stack(documents: Sequence[Validated], stack_name: str) -> list[Problem]:
    """Cross-document problems of the valid documents (invalid ones still count as declared)."""
    problems: list[Problem] = []
    first_at: dict[str, Validated] = {}
    declared: dict[str, set[str]] = {}  # name -> kinds declaring it
    for doc in documents:
        if doc.kind is None or doc.name is None:
            continue
        declared.setdefault(doc.name, set()).add(doc.kind)
        address = f"{doc.kind}/{doc.name}"
        if doc.kind == "Stack":
            continue
        if address in first_at:
            problems.append(
                problem_at(
                    doc.source,
                    address,
                    ("metadata", "name"),
                    f"duplicate address {address} (first defined at {_where(first_at[address])})",
                )
            )
        else:
            first_at[address] = doc

    resources: dict[str, tuple[Validated, Resource]] = {}
    for doc in documents:
        model = doc.model
        if model is None or isinstance(model, Stack) or model.address in resources:
            continue
        resources[model.address] = (doc, model)

    for doc, model in resources.values():
        problems += _check_name_length(doc, model, stack_name)
        problems += _check_references(doc, model, declared, resources)
    problems += _check_bindings(resources)
    if not problems:
        problems += _check_cycles(resources)
    return problems


def _check_name_length(doc: Validated, model: Resource, stack_name: str) -> list[Problem]:
    if isinstance(model, SyncBinding):
        return []
    if isinstance(model, Trainer) and model.spec.job_id is not None:
        return []  # the remote id is the explicit jobId
    if isinstance(model, Deployment) and model.spec.deployment_id is not None:
        return []  # the remote id is the explicit deploymentId
    name = model.metadata.name
    total = len(stack_name) + len(name)
    if total <= MAX_STACK_PLUS_NAME:
        return []
    return [
        problem_at(
            doc.source,
            model.address,
            ("metadata", "name"),
            f"name too long: stack '{stack_name}' and name '{name}' have {total} characters together, "
            f"at most {MAX_STACK_PLUS_NAME} fit remote ids (<stack>-<name>-<suffix>, 63 characters); "
            "shorten one of them",
        )
    ]


def _check_references(
    doc: Validated,
    model: Resource,
    declared: dict[str, set[str]],
    resources: dict[str, tuple[Validated, Resource]],
) -> list[Problem]:
    refs: list[tuple[str, str, str]] = []  # (field, name, expected kind)
    if isinstance(model, ReferenceTrainer):
        refs.append(("policy", model.spec.policy, "Trainer"))
    elif isinstance(model, SyncBinding):
        refs.append(("trainer", model.spec.trainer, "Trainer"))
        refs.append(("deployment", model.spec.deployment, "Deployment"))
    problems: list[Problem] = []
    for field, name, expected in refs:
        kinds = declared.get(name, set())
        if expected in kinds:
            continue
        if kinds - {"Stack"}:
            others = " and ".join(sorted(kinds - {"Stack"}))
            message = f"'{name}' is a {others} in this stack, not a {expected}; {field} must name a {expected}"
        else:
            message = f"refers to {expected}/{name}, which is not declared in this stack"
        problems.append(problem_at(doc.source, model.address, ("spec", field), message))
    return problems


def _check_bindings(resources: dict[str, tuple[Validated, Resource]]) -> list[Problem]:
    problems: list[Problem] = []
    bound_deployment: dict[str, Validated] = {}
    per_deployment_trainer: dict[str, tuple[Validated, str]] = {}
    for doc, model in resources.values():
        if not isinstance(model, SyncBinding):
            continue
        trainer_address = f"Trainer/{model.spec.trainer}"
        deployment_address = f"Deployment/{model.spec.deployment}"
        if deployment_address in bound_deployment:
            first = bound_deployment[deployment_address]
            problems.append(
                problem_at(
                    doc.source,
                    model.address,
                    ("spec", "deployment"),
                    f"{deployment_address} is already bound by {first.address} (at {_where(first)}); "
                    "a deployment takes weights from one trainer",
                )
            )
        else:
            bound_deployment[deployment_address] = doc
        deployment = resources.get(deployment_address)
        if deployment is not None and isinstance(deployment[1], Deployment) and not deployment[1].spec.hot_load.enabled:
            problems.append(
                problem_at(
                    doc.source,
                    model.address,
                    ("spec", "deployment"),
                    f"{deployment_address} sets hotLoad.enabled: false; weight sync needs hot load",
                )
            )
        if model.spec.scope != "perDeployment":
            continue
        trainer = resources.get(trainer_address)
        if trainer is not None and isinstance(trainer[1], Trainer) and trainer[1].spec.job_id is not None:
            problems.append(
                problem_at(
                    doc.source,
                    model.address,
                    ("spec", "scope"),
                    f"scope perDeployment creates {trainer_address} with the deployment's id, but that trainer "
                    "sets jobId (adopts an existing job); use scope perTrainer or remove jobId",
                )
            )
        if trainer_address in per_deployment_trainer:
            first, other = per_deployment_trainer[trainer_address]
            problems.append(
                problem_at(
                    doc.source,
                    model.address,
                    ("spec", "trainer"),
                    f"{trainer_address} is already bound perDeployment to {other} by {first.address} "
                    f"(at {_where(first)}); a trainer is created with one deployment's id",
                )
            )
        else:
            per_deployment_trainer[trainer_address] = (doc, deployment_address)
    return problems


def _check_cycles(resources: dict[str, tuple[Validated, Resource]]) -> list[Problem]:
    cycle = find_cycle(dependencies({address: model for address, (_doc, model) in resources.items()}))
    if cycle is None:
        return []
    doc, model = resources[cycle[0]]
    return [problem_at(doc.source, model.address, (), "dependency cycle: " + " -> ".join(cycle))]
