"""Spec field paths for ``lifecycle.ignoreChanges``: which camelCase paths a spec model accepts."""

from __future__ import annotations

import types
import typing
from typing import Annotated, Any, Union

from pydantic import BaseModel

_NOT_IGNORABLE = frozenset({"lifecycle", "timeouts"})


def unwrap(annotation: Any) -> Any:
    """The model class inside ``Annotated[...]`` / ``X | None``, or the annotation itself."""
    while typing.get_origin(annotation) is Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return unwrap(args[0])
    return annotation


def _field_paths(model: type[BaseModel], prefix: str = "") -> tuple[set[str], set[str]]:
    paths: set[str] = set()
    open_prefixes: set[str] = set()
    for name, info in model.model_fields.items():
        alias = info.alias or name
        if not prefix and alias in _NOT_IGNORABLE:
            continue
        path = prefix + alias
        paths.add(path)
        inner = unwrap(info.annotation)
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            sub_paths, sub_open = _field_paths(inner, path + ".")
            paths |= sub_paths
            open_prefixes |= sub_open
        elif typing.get_origin(inner) is dict:
            open_prefixes.add(path + ".")
    return paths, open_prefixes


def ignorable_paths(spec: type[BaseModel]) -> frozenset[str]:
    """The camelCase spec paths ``lifecycle.ignoreChanges`` accepts (map fields also take ``field.<key>``)."""
    return frozenset(_field_paths(spec)[0])


def is_ignorable(spec: type[BaseModel], path: str) -> bool:
    """True if ``path`` (camelCase, relative to spec) names a field of ``spec`` that may be ignored."""
    paths, open_prefixes = _field_paths(spec)
    return path in paths or any(path.startswith(p) and len(path) > len(p) for p in open_prefixes)


def ignore_changes_rules(spec: BaseModel, ignore_changes: tuple[str, ...]) -> list[tuple[str, str]]:
    import difflib

    rules: list[tuple[str, str]] = []
    known = sorted(ignorable_paths(type(spec)))
    for index, path in enumerate(ignore_changes):
        if not is_ignorable(type(spec), path):
            close = difflib.get_close_matches(path, known, n=1)
            hint = f" (did you mean {close[0]}?)" if close else f"; known paths: {', '.join(known)}"
            rules.append((f"lifecycle.ignoreChanges.{index}", f"unknown field path '{path}'{hint}"))
    return rules


__all__ = ["ignorable_paths", "ignore_changes_rules", "is_ignorable", "unwrap"]
