"""What the commands share: option sets, durations, logging, printing a plan, the echoing listener."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from reconciler.cli._errors import Fail

if TYPE_CHECKING:
    from reconciler.model.plan import Plan
    from reconciler.operations import Listener

EMBEDDED_NOTICE = ("Using the embedded local control plane (.fwctl/local.db); set FIREWORKS_API_KEY "
                   "(or --endpoint URL) to target Fireworks.")


def files_option(fn: Any) -> Any:
    return click.option(
        "-f", "--file", "files", multiple=True, metavar="PATH",
        help="Manifest file or directory (repeatable; '-' for stdin). Default: the current directory.",
    )(fn)


def engine_options(fn: Any) -> Any:
    fn = click.option("--endpoint", metavar="URL|local", help="Control plane to use (default: see README).")(fn)
    fn = click.option("--state", "state_location", metavar="PATH|URL", envvar="FWCTL_STATE",
                      help="State location (default .fwctl/state.json; env FWCTL_STATE).")(fn)
    fn = click.option("--lock-timeout", default="0s", show_default=True, metavar="DURATION", envvar="FWCTL_LOCK_TIMEOUT",
                      help="How long to wait for a state lock held by someone else.")(fn)
    fn = click.option("-v", "--verbose", count=True, help="More logging (-vv for debug).")(fn)
    return fn


def state_options(fn: Any) -> Any:
    fn = click.option("--stack", "stack", metavar="NAME",
                      help="Stack name (default: from the manifests, else 'default').")(fn)
    fn = click.option("--state", "state_location", metavar="PATH|URL", envvar="FWCTL_STATE",
                      help="State location.")(fn)
    return files_option(fn)


def setup_logging(verbose: int) -> None:
    import logging

    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(levelname)s %(message)s", stream=sys.stderr)


def seconds(text: str, flag: str = "--lock-timeout") -> float:
    from reconciler.model.duration import parse_duration

    try:
        return float(parse_duration(text))
    except (ValueError, TypeError) as exc:
        raise Fail(f"{flag}: {exc}") from None


def listener() -> Listener:
    """Tells the person what an operation is doing: the embedded plane's notice, a lock wait."""
    from reconciler.cli._listener import EchoListener

    return EchoListener()


def print_plan(plan: Plan) -> None:
    import os

    from reconciler.render import plan_text

    if sys.stdout.isatty() and not os.environ.get("NO_COLOR"):
        from rich.console import Console

        Console(highlight=False).print(plan_text(plan, colour=True))
    else:
        click.echo(plan_text(plan))


def confirm(auto_approve: bool, what: str) -> None:
    if auto_approve:
        return
    if not sys.stdin.isatty():
        raise Fail(f"no terminal to confirm the {what}: re-run with --auto-approve")
    answer = click.prompt(f"Do you want to perform this {what}? Only 'yes' will be accepted", default="",
                          show_default=False)
    if answer.strip() != "yes":
        raise Fail(f"{what} cancelled")
