"""Dependency edges between resources, a stable topological order, and cycle detection.

Pure functions of data. A dependency map is ``address -> addresses it depends on``; creation
follows :func:`topological_order`, destruction its reverse. The order functions are generic:
any string keys work, which is how the planner reuses them for plan changes.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Set

from reconciler.model.resources import Resource


class CycleError(ValueError):
    """The dependency map has a cycle; ``cycle`` lists it with the first address repeated at the end."""

    def __init__(self, cycle: list[str]) -> None:
        self.cycle = cycle
        super().__init__("dependency cycle: " + " -> ".join(cycle))


def dependencies(resources: Mapping[str, Resource]) -> dict[str, set[str]]:
    """Who depends on whom: each resource's references and extra edges, as its model declares them.

    Only edges to addresses present in ``resources`` are kept; every address is a key.
    """
    deps: dict[str, set[str]] = {address: set() for address in resources}

    def add(source: str, target: str) -> None:
        if source in deps and target in resources and target != source:
            deps[source].add(target)

    for address, resource in resources.items():
        for ref in resource.references():
            add(address, ref.address)
        for source, target in resource.extra_edges(resources):
            add(source, target)
    return deps


def dependents(deps: Mapping[str, Set[str]]) -> dict[str, set[str]]:
    """The reverse map: address -> addresses that depend on it (keys as in ``deps``)."""
    reverse: dict[str, set[str]] = {address: set() for address in deps}
    for address, targets in deps.items():
        for target in targets:
            reverse.setdefault(target, set()).add(address)
    return reverse


def find_cycle(deps: Mapping[str, Set[str]]) -> list[str] | None:
    """One dependency cycle as ``[a, b, ..., a]`` (a depends on b ...), or None if there is none.

    Deterministic: the search starts from keys in input order and follows targets in sorted order.
    Targets that are not keys are leaves.
    """
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(deps, white)
    for root in deps:
        if colour[root] != white:
            continue
        path: list[str] = [root]
        colour[root] = grey
        stack = [iter(sorted(deps[root]))]
        while stack:
            target = next(stack[-1], None)
            if target is None:
                stack.pop()
                colour[path.pop()] = black
                continue
            state = colour.get(target)
            if state is None or state == black:
                continue
            if state == grey:
                return [*path[path.index(target) :], target]
            colour[target] = grey
            path.append(target)
            stack.append(iter(sorted(deps[target])))
    return None


def topological_order(deps: Mapping[str, Set[str]]) -> list[str]:
    """Every key, each after the keys it depends on; ties keep input order (stable).

    Targets that are not keys are treated as already satisfied. Raises :class:`CycleError`.
    """
    cycle = find_cycle(deps)
    if cycle is not None:
        raise CycleError(cycle)
    keys = list(deps)
    position = {address: index for index, address in enumerate(keys)}
    waiting = {address: {t for t in targets if t in position} for address, targets in deps.items()}
    reverse = dependents(waiting)
    ready = [position[a] for a, targets in waiting.items() if not targets]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        address = keys[heapq.heappop(ready)]
        order.append(address)
        for follower in reverse[address]:
            waiting[follower].discard(address)
            if not waiting[follower]:
                heapq.heappush(ready, position[follower])
    return order
