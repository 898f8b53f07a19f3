"""Field tables and field diffs.

Each kind declares a :class:`FieldTable`: for every attribute of its remote config, the manifest
path it is shown under, whether the platform can change it in place (PATCH) or it forces
replacement, and whether it names a versioned shape. A declared config and an observed one are
each turned into a flat *view* keyed by manifest path (``replicas.max``, ``trainingShape``).

What is compared follows the platform's rules: a field left unset in the manifest is the
platform's to choose and is not compared; a parent shape matches any of its versions;
``ignoreChanges`` paths are dropped. deepdiff computes the differences; the table decides which
of them force replacement.

Some fields a create accepts are never returned by the platform (a trainer's ``trainingShape`` is a
create query parameter; its ``inactivityTimeout``, a deployment's ``annotations`` are not in the public
REST types). The table marks them ``echoed=False``; the observed view takes their value from what
state recorded as last applied (as Terraform providers do for write-only attributes), never from
their absence in the answer. A path the observed view lacks (nothing recorded: a job fwctl adopted or
imported) is *unverified*: not compared, and named in the plan.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from reconciler.model.deployment_rules import is_default_shape
from reconciler.model.plan import FieldDiff
from reconciler.model.remote import shape_of


@dataclass(frozen=True)
class FieldRule:
    attr: str  # the config attribute (``min_replicas``)
    path: str  # the manifest path (``replicas.min``)
    in_place: bool = False  # the platform changes it in place; otherwise it forces replacement
    versioned: bool = False  # a shape name: a newer version of the declared shape is not a change
    echoed: bool = True  # the platform returns it; otherwise compared with the last-applied value in state


class FieldTable:
    """The compared fields of one kind, in manifest order."""

    def __init__(self, *rules: FieldRule) -> None:
        self.rules = rules
        self.in_place = frozenset(r.path for r in rules if r.in_place)
        self.versioned = frozenset(r.path for r in rules if r.versioned)
        self.unechoed = frozenset(r.path for r in rules if not r.echoed)
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

    def observed(self, config: BaseModel, recorded: Mapping[str, Any] | None, *,
                 without: Iterable[str] = ()) -> dict[str, Any]:
        """What the platform has, keyed by manifest path: the echoed fields from ``config`` (a read), the
        others from ``recorded`` (state's last-applied view of this same resource); a field neither
        gives is left out (unverified)."""
        view = self.view(config, without=without)
        for path in self.unechoed.intersection(view):
            if recorded is not None and path in recorded:
                view[path] = recorded[path]
            else:
                del view[path]
        return view

    def readable(self, config: BaseModel, *, without: Iterable[str] = ()) -> dict[str, Any]:
        """The fields a read of the platform shows (what an import can record)."""
        return {k: v for k, v in self.view(config, without=without).items() if k not in self.unechoed}

    def unverified(self, desired: Mapping[str, Any], observed: Mapping[str, Any], *,
                   ignore: Iterable[str] = ()) -> tuple[str, ...]:
        """Declared paths the observed view cannot show (not returned by the platform, none recorded)."""
        ignored = tuple(ignore)
        return tuple(p for p, want in desired.items() if want is not None and p not in observed
                     and not any(p == i or p.startswith(i + ".") for i in ignored))

    def diffs(self, desired: Mapping[str, Any], observed: Mapping[str, Any], *,
              ignore: Iterable[str] = ()) -> tuple[FieldDiff, ...]:
        """The changes from ``observed`` (an :meth:`observed` view) to ``desired``; unverified paths
        (those ``observed`` lacks) are not compared."""
        ignore = (*ignore, *self.unverified(desired, observed))
        return field_diffs(desired, observed, ignore=ignore, in_place=self.in_place, versioned=self.versioned)

    def drifted(self, recorded: Mapping[str, Any] | None, now: Mapping[str, Any]) -> list[str]:
        """``path: before -> after`` for every recorded value the platform no longer reports (fields it
        does not return cannot drift as far as fwctl can see)."""
        if not recorded:
            return []
        out = []
        for path, value in now.items():
            if path in self.unechoed:
                continue
            was = recorded.get(path)
            if path not in recorded or was is None or was == value:
                continue
            if path in self.versioned and (str(value).startswith(str(was)) or is_default_shape(was)):
                continue  # a version of the shape that was declared (or that the platform chose)
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
        if path in versioned and is_default_shape(want):
            continue  # deploymentShape: default, the platform's choice (it answers with the version it chose)
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
