"""Field tables and field diffs.

Each kind declares a :class:`FieldTable`: for every attribute of its remote config, the manifest
path it is shown under, whether the platform can change it in place (PATCH) or it forces
replacement, and whether it names a versioned shape. A declared config and an observed one are
each turned into a flat *view* keyed by manifest path (``replicas.max``, ``trainingShape``).

What is compared follows the platform's rules: a field left unset in the manifest is the
platform's to choose and is not compared; a parent shape matches any of its versions;
``ignoreChanges`` paths are dropped. deepdiff computes the differences; the table decides which
of them force replacement.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from reconciler.model.plan import FieldDiff
from reconciler.model.remote import shape_of


@dataclass(frozen=True)
class FieldRule:
    attr: str  # the config attribute (``min_replicas``)
    path: str  # the manifest path (``replicas.min``)
    in_place: bool = False  # the platform changes it in place; otherwise it forces replacement
    versioned: bool = False  # a shape name: a newer version of the declared shape is not a change


class FieldTable:
    """The compared fields of one kind, in manifest order."""

    def __init__(self, *rules: FieldRule) -> None:
        self.rules = rules
        self.in_place = frozenset(r.path for r in rules if r.in_place)
        self.versioned = frozenset(r.path for r in rules if r.versioned)
        self._attr = {r.path: r.attr for r in rules}

    @property
    def patchable_attrs(self) -> frozenset[str]:
        return frozenset(r.attr for r in self.rules if r.in_place)

    def attr_of(self, path: str) -> str | None:
        return self._attr.get(path)

    def view(self, config: BaseModel, *, without: Iterable[str] = ()) -> dict[str, Any]:
        """``config`` keyed by manifest path (for display and comparison)."""
        data = config.model_dump()
        skip = set(without)
        return {r.path: data[r.attr] for r in self.rules if r.path not in skip}

    def diffs(self, desired: Mapping[str, Any], observed: Mapping[str, Any], *,
              ignore: Iterable[str] = ()) -> tuple[FieldDiff, ...]:
        return field_diffs(desired, observed, ignore=ignore, in_place=self.in_place, versioned=self.versioned)

    def drifted(self, recorded: Mapping[str, Any] | None, now: Mapping[str, Any]) -> list[str]:
        """``path: before -> after`` for every recorded value the platform no longer reports."""
        if not recorded:
            return []
        out = []
        for path, value in now.items():
            was = recorded.get(path)
            if path not in recorded or was is None or was == value:
                continue
            if path in self.versioned and str(value).startswith(str(was)):
                continue  # a version of the shape that was declared
            out.append(f"{path}: {was!r} -> {value!r}")
        return out


def _comparable(
    desired: Mapping[str, Any], observed: Mapping[str, Any], ignore: Iterable[str], versioned: frozenset[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Drop what is not compared: unset in the manifest (platform's choice) or ignored."""
    ignored = tuple(ignore)
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for path, want in desired.items():
        if want is None or any(path == p or path.startswith(p + ".") for p in ignored):
            continue
        have = observed.get(path)
        if path in versioned and "/versions/" not in str(want):
            have = shape_of(have)  # a newer version of the declared shape is not a change
        before[path] = have
        after[path] = want
    return before, after


def field_diffs(
    desired: Mapping[str, Any],
    observed: Mapping[str, Any],
    *,
    ignore: Iterable[str] = (),
    in_place: frozenset[str] = frozenset(),
    versioned: frozenset[str] = frozenset(),
) -> tuple[FieldDiff, ...]:
    """The differences between a desired and an observed view, in manifest order.

    A path not in ``in_place`` forces replacement; a path in ``versioned`` compares shapes, not versions.
    """
    from deepdiff import DeepDiff  # imported when first needed: fwctl validate never diffs

    before, after = _comparable(desired, observed, ignore, versioned)
    diff = DeepDiff(before, after, view="tree", ignore_numeric_type_changes=True)
    changed: list[str] = []
    for level in diff.tree.values():
        for item in level:
            path = item.path(output_format="list")
            if path and path[0] not in changed:
                changed.append(str(path[0]))
    order = list(after)
    return tuple(
        FieldDiff(
            path=path,
            before=before.get(path),
            after=after.get(path),
            forces_replacement=path not in in_place,
        )
        for path in sorted(changed, key=order.index)
    )
