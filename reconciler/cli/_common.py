"""What the commands share: option sets, durations, logging, printing a plan, the echoing listener.

One spelling per flag across commands: every command that reads manifests takes ``-f/--file``
(``files_option``), every command with machine output takes ``--format json`` and ``--json``
(``format_options``). Old spellings keep working as hidden aliases (``Aliased``).
"""

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


class Aliased(click.Option):
    """An option whose ``aliases`` (old spellings) still parse but are left out of ``--help``."""

    def __init__(self, *args: Any, aliases: tuple[str, ...] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.aliases = aliases

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        shown, self.opts = self.opts, [o for o in self.opts if o not in self.aliases]
        try:
            return super().get_help_record(ctx)
        finally:
            self.opts = shown


def files_option(fn: Any) -> Any:
    fn = variable_options(fn)
    return click.option(
        "-f", "--file", "--filename", "files", cls=Aliased, aliases=("--filename",), multiple=True, metavar="PATH",
        help="Manifest file or directory (repeatable; '-' for stdin). Default: the current directory.",
    )(fn)


def _set_variables(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> None:
    # Always set, empty too: an earlier in-process invocation's values must not carry over.
    from dataclasses import replace

    from reconciler.manifest import current_variable_inputs, use_variable_inputs

    current = current_variable_inputs()
    if param.name == "var_assignments":
        use_variable_inputs(replace(current, assignments=tuple(value)))
    else:
        use_variable_inputs(replace(current, files=tuple(value)))


def variable_options(fn: Any) -> Any:
    """``-var NAME=VALUE`` and ``--var-file FILE`` (issue 16): the values of the Stack's variables."""
    fn = click.option("--var-file", "var_files", multiple=True, metavar="FILE", expose_value=False,
                      callback=_set_variables,
                      help="YAML file of variable values (repeatable; later files win over earlier ones).")(fn)
    return click.option("-var", "--var", "var_assignments", multiple=True, metavar="NAME=VALUE", expose_value=False,
                        callback=_set_variables,
                        help="Set a variable (repeatable; wins over --var-file, FWCTL_VAR_NAME and the default).")(fn)


def format_options(*formats: str, aliases: tuple[str, ...] = ()) -> Any:
    """``--format FORMAT`` (``formats``, the first one the default) and ``--json`` (= ``--format json``);
    the command gets ``output_format`` and ``as_json`` and calls ``chosen_format``."""
    def decorate(fn: Any) -> Any:
        names = ", ".join(formats)
        fn = click.option("--json", "as_json", is_flag=True, help="Same as --format json.")(fn)
        return click.option("--format", *aliases, "output_format", cls=Aliased, aliases=aliases,
                            type=click.Choice(formats), default=None,
                            help=f"Output: {names} (default {formats[0]}).")(fn)
    return decorate


def chosen_format(output_format: str | None, as_json: bool, default: str = "text") -> str:
    if as_json and output_format not in (None, "json"):
        raise click.UsageError(f"--json conflicts with --format {output_format}")
    return "json" if as_json else output_format or default


def engine_options(fn: Any) -> Any:
    fn = click.option("--endpoint", metavar="URL|local", help="Control plane to use (default: see README).")(fn)
    fn = click.option("--state", "state_location", metavar="PATH|URL", envvar="FWCTL_STATE",
                      help="State location (default .fwctl/state.json; env FWCTL_STATE).")(fn)
    fn = click.option("--lock-timeout", default="0s", show_default=True, metavar="DURATION", envvar="FWCTL_LOCK_TIMEOUT",
                      help="How long to wait for a state lock held by someone else.")(fn)
    fn = click.option("-v", "--verbose", count=True, help="More logging (-vv for debug).")(fn)
    return fn


def move_option(fn: Any) -> Any:
    """``--allow-endpoint-change``: for commands that write or plan against the state's endpoint."""
    return click.option("--allow-endpoint-change", is_flag=True,
                        help="Use a state recorded for another endpoint or account, and record the new one "
                             "(moving the stack, e.g. behind a proxy).")(fn)


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
