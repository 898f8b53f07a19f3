"""plan, apply, destroy."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from reconciler.cli._common import (
    confirm,
    engine_options,
    files_option,
    listener,
    move_option,
    print_plan,
    seconds,
    setup_logging,
)
from reconciler.cli._cost import limit_options
from reconciler.cli._errors import EXIT_CHANGES, EXIT_INTERRUPTED, Fail
from reconciler.cli._refresh import APPLY_HELP as APPLY_REFRESH_HELP
from reconciler.cli._refresh import PLAN_HELP as PLAN_REFRESH_HELP
from reconciler.cli._refresh import apply_refresh_only, plan_refresh_only, refresh_only_usage
from reconciler.cli._variables import print_values

if TYPE_CHECKING:
    from reconciler.operations import Applied


@click.command()
@click.option("--refresh-only", is_flag=True, help=PLAN_REFRESH_HELP)
@files_option
@engine_options
@move_option
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when changes are pending, 0 when none.")
@click.option("--destroy", "destroy", is_flag=True, help="Plan the destruction of everything in state.")
@click.option("--target", "targets", multiple=True, metavar="ADDR", help="Limit to ADDR and its dependencies.")
@click.option("--replace", "replace", multiple=True, metavar="ADDR",
              help="Replace ADDR although nothing forces it (repeatable).")
@click.option("--format", "output_format", type=click.Choice(["text", "json", "markdown"]), default=None,
              help="Output: text (default), json (schemas/plan.schema.json) or markdown (for a pull request).")
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@click.option("--out", "out_file", metavar="FILE", help="Also save the plan (with its manifests) for `fwctl apply FILE`.")
@click.option("--show-values", is_flag=True, help="Also print each variable's resolved value and where it came from.")
@limit_options
def plan(files: tuple[str, ...], endpoint: str | None, state_location: str | None, lock_timeout: str,
         verbose: int, detailed_exitcode: bool, destroy: bool, targets: tuple[str, ...], output_format: str | None,
         as_json: bool, out_file: str | None, refresh_only: bool, allow_endpoint_change: bool,
         replace: tuple[str, ...] = (), prices_file: str | None = None,
         max_usd_per_hour: float | None = None, show_values: bool = False) -> None:
    """Show what apply would do, and why.

    With --refresh-only, show what changed on the platform since the state was written; the state
    is not written (`fwctl apply --refresh-only` records it).
    """
    import json

    from reconciler import operations

    if as_json and output_format not in (None, "json"):
        raise click.UsageError("--json conflicts with --format " + str(output_format))
    output_format = "json" if as_json else output_format or "text"
    if refresh_only:
        refresh_only_usage(destroy=destroy, targets=targets, out_file=out_file, output_format=output_format,
                           replace=replace)
    setup_logging(verbose)
    session = operations.open_session(files, endpoint, state_location, allow_endpoint_change=allow_endpoint_change)
    if show_values:
        print_values(session.manifests, err=output_format != "text")
    if refresh_only:
        plan_refresh_only(session, lock_timeout=lock_timeout, as_json=output_format == "json",
                          detailed_exitcode=detailed_exitcode)
        return
    result = operations.plan(session, operations.PlanOptions(destroy=destroy, targets=targets, replace=replace,
                                                             limits=True, prices_file=prices_file,
                                                             max_usd_per_hour=max_usd_per_hour),
                             lock_timeout_s=seconds(lock_timeout), listener=listener())
    if output_format == "json":
        from reconciler.render import plan_json

        click.echo(json.dumps(plan_json(result), indent=2))
    elif output_format == "markdown":
        from reconciler.render import plan_markdown

        click.echo(plan_markdown(result), nl=False)
    else:
        print_plan(result)
    if out_file:
        operations.save_plan(out_file, result, session)
        click.echo(f"Saved the plan to {out_file}; to perform exactly these actions, run: fwctl apply {out_file}",
                   err=True)
    if detailed_exitcode and result.has_changes:
        sys.exit(EXIT_CHANGES)


def _apply(files: tuple[str, ...], endpoint: str | None, state_location: str | None, lock_timeout: str,
           verbose: int, *, auto_approve: bool, parallelism: int, destroy: bool = False,
           targets: tuple[str, ...] = (), plan_file: str | None = None, allow_endpoint_change: bool = False,
           replace: tuple[str, ...] = (), prices_file: str | None = None,
           max_usd_per_hour: float | None = None) -> None:
    """apply and destroy, fresh or saved: one path."""
    import signal

    from reconciler import operations

    # Ctrl-C (or a runner's SIGINT) must stop an apply even when the parent started us with SIGINT
    # ignored, as shells do for background jobs.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    setup_logging(verbose)
    request = operations.ApplyRequest(files=files, endpoint=endpoint, state=state_location,
                                      lock_timeout_s=seconds(lock_timeout),
                                      options=operations.PlanOptions(destroy=destroy, targets=targets, replace=replace,
                                                                     limits=True, prices_file=prices_file,
                                                                     max_usd_per_hour=max_usd_per_hour),
                                      plan_file=plan_file, allow_endpoint_change=allow_endpoint_change)
    again = "make a new plan" if plan_file else "run apply again"
    outcome = None
    try:
        with operations.prepare_apply(request, listener()) as prepared:
            print_plan(prepared.plan)
            if prepared.moves:
                click.echo(f"The state moves to endpoint {prepared.session.endpoint.url} "
                           f"(account {prepared.plan.account}).")
            if prepared.has_changes:
                if not prepared.saved:
                    confirm(auto_approve, prepared.what)
                reporter = _reporter()
                try:
                    outcome = prepared.apply(parallelism=parallelism, reporter=reporter)
                finally:
                    reporter.close()
    except KeyboardInterrupt:
        raise Fail(f"interrupted: finished changes are recorded in state; {again} to continue",
                   EXIT_INTERRUPTED) from None
    if outcome is not None:
        _report(outcome)


def _reporter() -> Any:
    from reconciler.progress import LineReporter, TableReporter

    return TableReporter() if sys.stdout.isatty() and sys.stderr.isatty() else LineReporter()


def _report(outcome: Applied) -> None:
    what = outcome.what.capitalize()
    click.echo("")
    if outcome.ok:
        from reconciler.render import plural

        click.echo(f"{what} complete: {plural(len(outcome.done), 'change')} carried out.")
        return
    lines = [f"{what} failed: {len(outcome.done)} done, {len(outcome.failed)} failed, "
             f"{len(outcome.skipped)} skipped."]
    lines += [f"  {address}: {message}" for address, message in outcome.failed.items()]
    lines += [f"  {address}: skipped ({message})" for address, message in outcome.skipped.items()]
    raise Fail("\n".join(lines))


@click.command()
@files_option
@engine_options
@move_option
@click.option("--auto-approve", is_flag=True, help="Do not ask for confirmation.")
@click.option("--parallelism", type=click.IntRange(min=1), default=10, show_default=True,
              help="Mutating requests (create, update, delete, resume, hot load) in flight at once; "
                   "a resource waiting to be ready holds none.")
@click.option("--target", "targets", multiple=True, metavar="ADDR", help="Limit to ADDR and its dependencies.")
@click.option("--replace", "replace", multiple=True, metavar="ADDR",
              help="Replace ADDR although nothing forces it (repeatable).")
@click.option("--refresh-only", is_flag=True, help=APPLY_REFRESH_HELP)
@click.option("--detailed-exitcode", is_flag=True,
              help="With --refresh-only: exit 2 when drift was found (and recorded), 0 when there was none.")
@limit_options
@click.argument("plan_file", required=False, metavar="[PLAN_FILE]")
def apply(files: tuple[str, ...], endpoint: str | None, state_location: str | None, lock_timeout: str,
          verbose: int, auto_approve: bool, parallelism: int, targets: tuple[str, ...],
          plan_file: str | None, refresh_only: bool, allow_endpoint_change: bool,
          replace: tuple[str, ...] = (), detailed_exitcode: bool = False, prices_file: str | None = None,
          max_usd_per_hour: float | None = None) -> None:
    """Make the account match the manifests.

    With PLAN_FILE (from `fwctl plan --out`), carry out exactly that plan, without asking: it is refused
    if the state moved since it was made, or it was made for another stack, endpoint or account.
    With --refresh-only, record in the state what changed on the platform, changing nothing there;
    with --detailed-exitcode too, exit 2 when there was drift to record (a drift check that records it).
    """
    if refresh_only:
        refresh_only_usage(targets=targets, plan_file=plan_file, replace=replace)
        apply_refresh_only(files, endpoint, state_location, lock_timeout, verbose, auto_approve=auto_approve,
                           allow_endpoint_change=allow_endpoint_change, detailed_exitcode=detailed_exitcode)
        return
    if detailed_exitcode:  # exit 1, not click's usage status 2, which a pipeline would read as "changes"
        raise Fail("--detailed-exitcode on apply needs --refresh-only (use it with `fwctl plan`)")
    if plan_file and (targets or replace):
        flag = "--target" if targets else "--replace"
        raise click.UsageError(f"{flag} cannot be used with a saved plan; give it to `fwctl plan --out`")
    _apply(files, endpoint, state_location, lock_timeout, verbose, auto_approve=auto_approve,
           parallelism=parallelism, targets=targets, plan_file=plan_file or None,
           allow_endpoint_change=allow_endpoint_change, replace=replace, prices_file=prices_file,
           max_usd_per_hour=max_usd_per_hour)


@click.command()
@files_option
@engine_options
@move_option
@click.option("--auto-approve", is_flag=True, help="Do not ask for confirmation.")
@click.option("--parallelism", type=click.IntRange(min=1), default=10, show_default=True,
              help="Mutating requests (create, update, delete, resume, hot load) in flight at once; "
                   "a resource waiting to be ready holds none.")
@click.option("--target", "targets", multiple=True, metavar="ADDR",
              help="Destroy only ADDR and what depends on it (repeatable).")
def destroy(files: tuple[str, ...], endpoint: str | None, state_location: str | None, lock_timeout: str,
            verbose: int, auto_approve: bool, parallelism: int, allow_endpoint_change: bool,
            targets: tuple[str, ...] = ()) -> None:
    """Tear the stack down: trainers deleted, deployments scaled to zero (or per onDestroy)."""
    _apply(files, endpoint, state_location, lock_timeout, verbose, auto_approve=auto_approve,
           parallelism=parallelism, destroy=True, targets=targets, allow_endpoint_change=allow_endpoint_change)
