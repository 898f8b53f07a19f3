"""The fwctl command line: the one composition root.

Every heavy dependency (httpx, the ASGI stack, tinker, psycopg) is imported inside the command
that needs it, so `fwctl --help` and `fwctl validate` start fast.
"""

from __future__ import annotations

import sys

import click

from reconciler import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="fwctl")
def main() -> None:
    """Declarative reconciler for Fireworks AI training infrastructure.

    Declare trainers, reference trainers, deployments and weight-sync bindings in YAML;
    `fwctl plan` shows what would change, `fwctl apply` makes it so, `fwctl destroy` tears it down.
    """


@main.command()
def version() -> None:
    """Print the fwctl version."""
    click.echo(f"fwctl {__version__}")


# --- manifests: validate, schema (issue 2) -------------------------------------------------------


@main.command()
@click.option(
    "-f",
    "--filename",
    "paths",
    multiple=True,
    default=["."],
    show_default=True,
    metavar="PATH",
    help="A manifest file, a directory of *.yaml/*.yml files, or - for stdin. Repeatable. "
    "A directory without manifests of its own is a directory of stacks: each subdirectory is checked "
    "as its own stack.",
)
@click.option(
    "-o", "--output", type=click.Choice(["text", "json"]), default="text", show_default=True, help="Report format."
)
def validate(paths: tuple[str, ...], output: str) -> None:
    """Check manifests without touching any account: every problem, with FILE:LINE:COL.

    Exit status 0 when valid, 1 when any problem was found.
    """
    import json

    from reconciler.manifest import ManifestError, discover_stacks, load_manifests

    results: list[dict[str, object]] = []
    failed = False
    for group in discover_stacks(list(paths)):
        try:
            manifests = load_manifests(group)
        except ManifestError as exc:
            failed = True
            results.append({"paths": group, "valid": False, "problems": [p.to_dict() for p in exc.problems]})
            if output == "text":
                for problem in exc.problems:
                    click.echo(str(problem), err=True)
                count = len(exc.problems)
                where = ", ".join("<stdin>" if p == "-" else p for p in group)
                click.echo(f"✗ {count} problem{'s' if count != 1 else ''} in {where}", err=True)
            continue
        count = len(manifests.resources)
        results.append(
            {"paths": group, "valid": True, "stack": manifests.stack_name, "resources": list(manifests.resources)}
        )
        if output == "text":
            noun = "resource" if count == 1 else "resources"
            click.echo(f"✓ {count} {noun} valid in stack {manifests.stack_name}")
    if output == "json":
        click.echo(json.dumps({"valid": not failed, "stacks": results}, indent=2))
    if failed:
        sys.exit(1)


@main.command()
@click.option(
    "--out", "out_dir", default="schemas", show_default=True, metavar="DIR", help="Directory to write into."
)
@click.option("--check", is_flag=True, help="Write nothing; exit 1 if DIR differs from what would be written.")
def schema(out_dir: str, check: bool) -> None:
    """Write the JSON Schema of every manifest kind (and manifest.schema.json, any kind) into DIR.

    Point an editor at it with a first line such as
    `# yaml-language-server: $schema=schemas/manifest.schema.json`.
    """
    import os

    from reconciler.model.schema import schema_files, write_schemas

    if check:
        stale = []
        for file_name, text in schema_files().items():
            path = os.path.join(out_dir, file_name)
            try:
                with open(path, encoding="utf-8") as handle:
                    current = handle.read()
            except OSError:
                current = None
            if current != text:
                stale.append(path)
        for path in stale:
            click.echo(f"out of date: {path}", err=True)
        if stale:
            click.echo("run `fwctl schema` to regenerate", err=True)
            sys.exit(1)
        click.echo(f"✓ schemas in {out_dir} are up to date")
        return
    for path in write_schemas(out_dir):
        click.echo(f"wrote {path}")


# --- the local control plane: fwctl local ... (issue 3) ------------------------------------------


# --- plan / apply / destroy / show / output / state (issue 4) ------------------------------------


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
