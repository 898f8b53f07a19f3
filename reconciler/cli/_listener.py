"""The command line's ``Listener``: an operation's news, echoed to stderr."""

from __future__ import annotations

import click

from reconciler.cli._common import EMBEDDED_NOTICE
from reconciler.model.state import LockInfo
from reconciler.operations import Listener, Session


class EchoListener(Listener):
    def connecting(self, session: Session) -> None:
        if session.endpoint.embedded:
            click.echo(EMBEDDED_NOTICE, err=True)

    def lock_waiting(self, holder: LockInfo) -> None:
        click.echo(f"Waiting for the state lock: {holder.describe()}", err=True)

    def moving(self, message: str) -> None:
        click.echo(message[:1].upper() + message[1:], err=True)
