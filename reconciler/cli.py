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


# --- the local control plane: fwctl local ... (issue 3) ------------------------------------------


# --- plan / apply / destroy / show / output / state (issue 4) ------------------------------------


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
