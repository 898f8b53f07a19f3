"""The one place an error becomes an exit status: every ``FwctlError`` is one message on stderr.

``FwctlGroup`` (the ``fwctl`` group) catches what a command raises: a ``FwctlError`` of any layer
becomes its message (one line, or one line per problem) and its ``exit_code``, never a traceback.
Commands raise ``Fail`` for what only the command line can refuse (a flag, a confirmation).
"""

from __future__ import annotations

from typing import Any

import click

EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2


class Fail(click.ClickException):
    """A one-line (or one-line-per-problem) error and exit status 1; never a traceback."""

    def __init__(self, message: str, exit_code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.exit_code = exit_code  # type: ignore[misc]  # click declares it a ClassVar

    def show(self, file: Any = None) -> None:
        click.echo(self.format_message(), err=True)


class FwctlGroup(click.Group):
    """The top-level group: its ``invoke`` runs every command, so it translates their errors."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.ClickException:
            raise
        except Exception as exc:
            from reconciler.model.errors import FwctlError  # loaded already by whatever raised it

            if isinstance(exc, FwctlError):
                raise Fail(str(exc), exc.exit_code) from None
            raise


__all__ = ["EXIT_CHANGES", "EXIT_ERROR", "EXIT_OK", "Fail", "FwctlGroup"]
