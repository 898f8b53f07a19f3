"""``fwctl plan --show-values``: each variable's resolved value and where it came from (issue 16)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from reconciler.manifest import Manifests


def print_values(manifests: Manifests | None, *, err: bool = False) -> None:
    """One line per variable: ``lr = 1e-5  (from -var lr)``; to stderr when stdout is machine output."""
    from reconciler.model.variables import show

    values = dict(manifests.variables) if manifests is not None else {}
    if not values:
        click.echo("No variables (the Stack declares none in spec.variables).", err=err)
        return
    click.echo("Variables:", err=err)
    width = max(len(name) for name in values)
    for name in sorted(values):
        source = manifests.variable_sources.get(name, "") if manifests is not None else ""
        click.echo(f"  {name.ljust(width)} = {show(values[name])}  (from {source})", err=err)
    click.echo("", err=err)
