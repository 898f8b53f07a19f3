"""The fwctl command line: thin commands (parse flags -> an operation -> render).

Every command calls into ``reconciler.operations`` and renders what it returns; errors become exit
statuses in one place (``_errors.FwctlGroup``). Every heavy dependency (httpx, the ASGI stack,
tinker, psycopg, rich) is imported inside the command that needs it, so `fwctl --help` and
`fwctl validate` start fast.
"""

from __future__ import annotations

import click

from reconciler import __version__
from reconciler.cli._convert import convert
from reconciler.cli._cost import cost
from reconciler.cli._errors import FwctlGroup
from reconciler.cli._local import local
from reconciler.cli._manifests import schema, validate
from reconciler.cli._ops import import_, orphans, status
from reconciler.cli._plan import apply, destroy, plan
from reconciler.cli._state import force_unlock, output, show, state


@click.group(cls=FwctlGroup, context_settings={"help_option_names": ["-h", "--help"]})
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


for _command in (validate, schema, local, plan, apply, destroy, show, output, state, force_unlock, status,
                 import_, orphans, cost, convert):
    main.add_command(_command)

__all__ = ["main"]
