"""plan --refresh-only and apply --refresh-only: what changed on the platform, reported or recorded."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from reconciler.cli._common import confirm, listener, seconds, setup_logging
from reconciler.cli._errors import EXIT_CHANGES, Fail

if TYPE_CHECKING:
    from reconciler.operations import Refreshed, Session

PLAN_HELP = ("Report what changed on the platform since the state was written, without proposing changes "
             "and without writing the state (the drift check; exit 2 on drift with --detailed-exitcode).")
APPLY_HELP = ("Record in the state what changed on the platform (after confirmation); change nothing there "
              "(exit 2 when it found drift, with --detailed-exitcode).")


def refresh_only_usage(*, destroy: bool = False, targets: tuple[str, ...] = (), out_file: str | None = None,
                       output_format: str | None = None, plan_file: str | None = None,
                       replace: tuple[str, ...] = ()) -> None:
    """--refresh-only reads everything the state records: it takes no plan options.

    Exit 1 (``Fail``), not click's usage status 2, which a drift check reads as "drift found".
    """
    for given, flag in ((destroy, "--destroy"), (targets, "--target"), (replace, "--replace"), (out_file, "--out"),
                        (output_format == "markdown", "--format markdown"), (plan_file, "a saved plan")):
        if given:
            raise Fail(f"--refresh-only cannot be used with {flag}")


def plan_refresh_only(session: Session, *, lock_timeout: str, as_json: bool, detailed_exitcode: bool) -> None:
    """Report the drift; never write the state. Exit 2 with ``detailed_exitcode`` while drift remains."""
    import json

    from reconciler import operations

    refreshed = operations.refresh_only(session, lock_timeout_s=seconds(lock_timeout), listener=listener())
    if as_json:
        click.echo(json.dumps({"drift": [{"address": d.address, "message": d.message} for d in refreshed.drifts]},
                              indent=2))
    else:
        print_drift(refreshed, session)
        if refreshed.has_changes:
            click.echo("\nThis is a refresh-only plan: fwctl changes nothing on the platform to undo these changes, "
                       "and the state was not written. If you expected them, run 'fwctl apply --refresh-only' to "
                       "record them in the state; 'fwctl plan' shows what apply would do to make the platform "
                       "match the manifests again.")
    if detailed_exitcode and refreshed.has_changes:
        sys.exit(EXIT_CHANGES)


def apply_refresh_only(files: tuple[str, ...], endpoint: str | None, state_location: str | None,
                       lock_timeout: str, verbose: int, *, auto_approve: bool, allow_endpoint_change: bool,
                       detailed_exitcode: bool = False) -> None:
    """Show the drift, ask, record it in the state (nothing on the platform changes).

    With ``detailed_exitcode``: exit 2 when there was drift (it is recorded now: "changes were present",
    as Terraform's -detailed-exitcode), 0 when the platform matched the state; a drift check that
    records what it finds so sees it every time the platform moved again."""
    from reconciler import operations
    from reconciler.render import plural

    setup_logging(verbose)
    session = operations.open_session(files, endpoint, state_location, allow_endpoint_change=allow_endpoint_change)
    with operations.prepare_refresh(session, "apply --refresh-only", lock_timeout_s=seconds(lock_timeout),
                                    listener=listener()) as prepared:
        found = prepared.found
        print_drift(found, session)
        if not found.has_changes:
            return
        click.echo("\nThis refresh-only apply records these values in the state; nothing on the platform changes.")
        confirm(auto_approve, "refresh-only apply")
        done = prepared.record()
    moved = f" and the endpoint {session.endpoint.url}" if done.moved else ""
    click.echo(f"\nApply complete: the state now records {plural(len(done.drifts), 'change')} made outside of "
               f"fwctl{moved}.")
    if detailed_exitcode and done.drifts:
        sys.exit(EXIT_CHANGES)


def print_drift(refreshed: Refreshed, session: Session) -> None:
    from reconciler.render import plural

    drifts = refreshed.drifts
    if not refreshed.has_state:
        click.echo(f"No drift: there is no state at {session.backend.describe()} yet, so nothing to compare.")
    elif not drifts:
        click.echo("No drift: the platform matches what fwctl recorded.")
    else:
        click.echo("Objects have changed outside of fwctl since the state was last written:\n")
        for d in drifts:
            click.echo(f"  {d.address}: {d.message}")
        click.echo(f"\nDrift: {plural(len(drifts), 'change')} found.")
