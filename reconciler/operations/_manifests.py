"""validate and schema: the manifests alone, no account and no state."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reconciler.model.problems import Problem


@dataclass(frozen=True)
class StackCheck:
    """One stack's verdict: its resources when valid, else every problem found."""

    paths: tuple[str, ...]
    stack: str | None = None
    resources: tuple[str, ...] = ()
    problems: tuple[Problem, ...] = field(default=())
    warnings: tuple[Problem, ...] = field(default=())  # risky choices the platform allows (valid stacks)

    @property
    def valid(self) -> bool:
        return not self.problems


def validate(paths: Sequence[str]) -> list[StackCheck]:
    """Check every stack under ``paths`` (a directory of stacks is one stack per subdirectory)."""
    from reconciler.manifest import ManifestError, discover_stacks, load_manifests

    checks = []
    for group in discover_stacks(list(paths)):
        try:
            manifests = load_manifests(group)
        except ManifestError as exc:
            checks.append(StackCheck(tuple(group), problems=tuple(exc.problems)))
            continue
        checks.append(StackCheck(tuple(group), manifests.stack_name, tuple(manifests.resources),
                                 warnings=manifests.warnings))
    return checks


def stale_schemas(out_dir: str) -> list[str]:
    """The schema files under ``out_dir`` that differ from what ``write_schemas`` would write."""
    import os

    from reconciler.model.schema import schema_files

    stale = []
    for file_name, text in schema_files().items():
        path = os.path.join(out_dir, file_name)
        try:
            with open(path, encoding="utf-8") as handle:
                current: str | None = handle.read()
        except OSError:
            current = None
        if current != text:
            stale.append(path)
    return stale


def write_schemas(out_dir: str) -> list[str]:
    """Write the JSON Schema of every manifest kind into ``out_dir``; returns the files written."""
    from reconciler.model.schema import write_schemas as write

    return list(write(out_dir))


__all__ = ["StackCheck", "stale_schemas", "validate", "write_schemas"]
