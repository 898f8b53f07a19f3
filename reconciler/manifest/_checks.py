"""Rules that need the whole stack: one Stack, unique addresses, id lengths, references, each kind's
cross-resource rules (each model's ``check_stack``), cycles. Needs nothing but the model."""

from __future__ import annotations

from collections.abc import Sequence

from reconciler.graph import dependencies, find_cycle
from reconciler.manifest._document import Validated, problem_at
from reconciler.model.problems import Problem
from reconciler.model.resources import MAX_STACK_PLUS_NAME, Resource, Stack
from reconciler.model.variables import remote_name

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
        problems += _check_references(doc, model, declared)
    problems += _check_kind_rules(resources)
    if not problems:
        problems += _check_cycles(resources)
    return problems


def _check_name_length(doc: Validated, model: Resource, stack_name: str) -> list[Problem]:
    if not model.derives_remote_id or model.explicit_remote_id() is not None:
        return []  # no remote id of its own, or the manifest names it (jobId, deploymentId)
    name = remote_name(model.metadata.name)  # a for-each instance's ids hold name-key
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
) -> list[Problem]:
    problems: list[Problem] = []
    for ref in model.references():
        kinds = declared.get(ref.name, set())
        if ref.kind in kinds:
            continue
        if kinds - {"Stack"}:
            others = " and ".join(sorted(kinds - {"Stack"}))
            message = (f"'{ref.name}' is a {others} in this stack, not a {ref.kind}; "
                       f"{ref.field} must name a {ref.kind}")
        else:
            message = f"refers to {ref.kind}/{ref.name}, which is not declared in this stack"
        problems.append(problem_at(doc.source, model.address, ("spec", ref.field), message))
    return problems


def _check_kind_rules(resources: dict[str, tuple[Validated, Resource]]) -> list[Problem]:
    """Each model's cross-resource rules (e.g. a deployment is bound by one SyncBinding)."""
    problems: list[Problem] = []
    models = {address: model for address, (_doc, model) in resources.items()}
    seen: dict[str, dict[str, object]] = {}
    for doc, model in resources.values():
        for field, message, first in model.check_stack(models, seen.setdefault(model.kind, {})):
            if first:
                message = message.replace("{first}", f"{first} (at {_where(resources[first][0])})")
            problems.append(problem_at(doc.source, model.address, ("spec", field), message))
    return problems


def _check_cycles(resources: dict[str, tuple[Validated, Resource]]) -> list[Problem]:
    cycle = find_cycle(dependencies({address: model for address, (_doc, model) in resources.items()}))
    if cycle is None:
        return []
    doc, model = resources[cycle[0]]
    return [problem_at(doc.source, model.address, (), "dependency cycle: " + " -> ".join(cycle))]
