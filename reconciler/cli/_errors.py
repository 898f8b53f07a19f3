"""The one place an error becomes an exit status: every ``FwctlError`` is one message on stderr.

``FwctlGroup`` (the ``fwctl`` group) catches what a command raises: a ``FwctlError`` of any layer
becomes its message (one line, or one line per problem) and its ``exit_code``, never a traceback.
Commands raise ``Fail`` for what only the command line can refuse (a flag, a confirmation).
Ctrl-C (SIGINT, ``KeyboardInterrupt``) anywhere is exit status 130 with one line, never a traceback;
an operation interrupted mid-way leaves the state as its last group commit wrote it.
"""

from __future__ import annotations

from typing import Any

import click

EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a process Ctrl-C stopped


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
        except (KeyboardInterrupt, click.Abort):  # click turns Ctrl-C at a prompt into Abort
            raise Fail("interrupted", EXIT_INTERRUPTED) from None
        except Exception as exc:
            from reconciler.model.errors import FwctlError  # loaded already by whatever raised it

            if isinstance(exc, FwctlError):
                raise Fail(str(exc), exc.exit_code) from None
            raise


__all__ = ["EXIT_CHANGES", "EXIT_ERROR", "EXIT_INTERRUPTED", "EXIT_OK", "Fail", "FwctlGroup"]
