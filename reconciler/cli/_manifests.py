"""validate, schema: the manifests alone."""

from __future__ import annotations

import sys

import click

from reconciler.cli._common import Aliased, chosen_format, format_options, variable_options
from reconciler.cli._errors import EXIT_ERROR


@click.command()
@click.option(
    "-f",
    "--file",
    "--filename",
    "paths",
    cls=Aliased,
    aliases=("--filename",),
    multiple=True,
    default=["."],
    show_default=True,
    metavar="PATH",
    help="A manifest file, a directory of *.yaml/*.yml files, or - for stdin. Repeatable. "
    "A directory without manifests of its own is a directory of stacks: each subdirectory is checked "
    "as its own stack.",
)
@variable_options
@format_options("text", "json", aliases=("-o", "--output"))
def validate(paths: tuple[str, ...], output_format: str | None, as_json: bool) -> None:
    """Check manifests without touching any account: every problem, with FILE:LINE:COL.

    Exit status 0 when valid, 1 when any problem was found.
    """
    import json

    from reconciler.operations._manifests import validate as check

    fmt = chosen_format(output_format, as_json)
    checks = check(paths)
    if fmt == "json":
        stacks = [
            {"paths": list(c.paths), "valid": True, "stack": c.stack, "resources": list(c.resources),
             "warnings": [w.to_dict() for w in c.warnings]} if c.valid
            else {"paths": list(c.paths), "valid": False, "problems": [p.to_dict() for p in c.problems]}
            for c in checks
        ]
        click.echo(json.dumps({"valid": all(c.valid for c in checks), "stacks": stacks}, indent=2))
    else:
        for c in checks:
            if c.valid:
                noun = "resource" if len(c.resources) == 1 else "resources"
                click.echo(f"✓ {len(c.resources)} {noun} valid in stack {c.stack}")
                for warning in c.warnings:
                    click.echo(f"Warning: {warning}", err=True)
                continue
            for problem in c.problems:
                click.echo(str(problem), err=True)
            count = len(c.problems)
            where = ", ".join("<stdin>" if p == "-" else p for p in c.paths)
            click.echo(f"✗ {count} problem{'s' if count != 1 else ''} in {where}", err=True)
    if not all(c.valid for c in checks):
        sys.exit(EXIT_ERROR)


@click.command()
@click.option(
    "--out", "out_dir", default="schemas", show_default=True, metavar="DIR", help="Directory to write into."
)
@click.option("--check", is_flag=True, help="Write nothing; exit 1 if DIR differs from what would be written.")
def schema(out_dir: str, check: bool) -> None:
    """Write the JSON Schema of every manifest kind (and manifest.schema.json, any kind) into DIR.

    Point an editor at it with a first line such as
    `# yaml-language-server: $schema=schemas/manifest.schema.json`.
    """
    from reconciler.operations._manifests import stale_schemas, write_schemas

    if check:
        stale = stale_schemas(out_dir)
        for path in stale:
            click.echo(f"out of date: {path}", err=True)
        if stale:
            click.echo("run `fwctl schema` to regenerate", err=True)
            sys.exit(EXIT_ERROR)
        click.echo(f"✓ schemas in {out_dir} are up to date")
        return
    for path in write_schemas(out_dir):
        click.echo(f"wrote {path}")
