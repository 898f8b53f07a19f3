"""import, orphans, status: the account beside the state."""

from __future__ import annotations

import sys
from typing import Any

import click

from reconciler.cli._common import (
    chosen_format,
    confirm,
    engine_options,
    files_option,
    format_options,
    listener,
    move_option,
    seconds,
    setup_logging,
)
from reconciler.cli._cost import prices_option
from reconciler.cli._errors import EXIT_CHANGES, EXIT_ERROR


@click.command("import")
@files_option
@engine_options
@move_option
@click.argument("address")
@click.argument("remote_id")
def import_(files: tuple[str, ...], endpoint: str | None, state_location: str | None, lock_timeout: str,
            verbose: int, address: str, remote_id: str, allow_endpoint_change: bool) -> None:
    """Record an existing trainer job or deployment under ADDRESS of the manifests.

    Differences between the manifest and the remote resource show up in the next plan.
    """
    from reconciler import operations

    setup_logging(verbose)
    session = operations.open_session(files, endpoint, state_location, allow_endpoint_change=allow_endpoint_change)
    operations.import_resource(session, address, remote_id, lock_timeout_s=seconds(lock_timeout),
                               listener=listener())
    click.echo(f"Imported {remote_id} as {address}. Run 'fwctl plan' to see how it differs from the manifest.")


@click.command()
@files_option
@engine_options
@click.option("--delete", "delete_them", is_flag=True,
              help="Delete the orphans (after confirmation), holding the state lock as apply does.")
@click.option("--auto-approve", is_flag=True, help="Do not ask before deleting.")
@click.option("--grace", default="10m", show_default=True, metavar="DURATION",
              help="Do not count what was created less than this long ago (an apply may be about to record it).")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when orphans are found (and not deleted), 0 when none.")
@prices_option
@format_options("text", "json")
def orphans(files: tuple[str, ...], endpoint: str | None, state_location: str | None, lock_timeout: str,
            verbose: int, delete_them: bool, auto_approve: bool, grace: str, detailed_exitcode: bool,
            prices_file: str | None, output_format: str | None, as_json: bool) -> None:
    """List trainers and deployments fwctl created for this stack that no state references.

    Not counted: what the state holds or is creating, what was created within --grace, and what was
    kept on purpose (onDestroy: retain, deployments parked by destroy, what `fwctl state rm` forgot). --delete waits for the state lock (--lock-timeout) and never
    deletes beside an apply. Exit status 0, or with --detailed-exitcode 2 when orphans are found
    (the nightly leak check).
    """
    from reconciler import operations
    from reconciler.render import plural

    fmt = chosen_format(output_format, as_json)
    grace_s = seconds(grace, "--grace")
    setup_logging(verbose)
    session = operations.open_session(files, endpoint, state_location)
    if not delete_them:
        survey = operations.list_orphans(session, grace_s=grace_s, listener=listener(), prices_file=prices_file)
        _print_orphans(survey, session.stack, fmt)
        if survey.orphans and detailed_exitcode:
            sys.exit(EXIT_CHANGES)
        return
    with operations.locked_orphans(session, grace_s=grace_s, lock_timeout_s=seconds(lock_timeout),
                                   listener=listener(), prices_file=prices_file) as survey:
        _print_orphans(survey, session.stack, fmt)
        if survey.orphans:
            confirm(auto_approve, f"deletion of {plural(len(survey.orphans), 'orphan')}")
            click.echo(f"Deleted {plural(operations.delete_orphans(session, survey.orphans), 'orphan')}.",
                       err=fmt == "json")


def _print_orphans(survey: Any, stack: str, fmt: str) -> None:
    import json

    from reconciler.model.duration import format_duration
    from reconciler.render import plural

    found = survey.orphans
    notes = []
    if survey.recent:
        it = "it" if len(survey.recent) == 1 else "them"
        notes.append(f"Not counted: {plural(len(survey.recent), 'resource')} created less than "
                     f"{format_duration(int(survey.grace_s))} ago ({', '.join(o.remote_id for o in survey.recent)}): "
                     f"an apply may be about to record {it}; --grace 0s counts {it}.")
    if survey.retained:
        notes.append(f"Retained, not counted: {', '.join(o.remote_id for o in survey.retained)} "
                     "(kept on purpose: onDestroy: retain, parked by fwctl destroy, or forgotten by fwctl state rm; "
                     "marked fwctl.dev/retained).")
    if fmt == "json":
        click.echo(json.dumps([{"kind": o.kind, "remote_id": o.remote_id, "name": o.name, "state": o.state,
                                "age_hours": o.age_hours, "accelerators": o.accelerators,
                                "hourly_usd": o.hourly_usd, "spent_usd": round(o.spent_usd, 2)} for o in found],
                              indent=2))
        for note in notes:
            click.echo(note, err=True)
        return
    if not found:
        click.echo(f"No orphans: everything fwctl created for stack {stack} is in its state."
                   if not notes else f"No orphans for stack {stack}.")
    else:
        click.echo(f"{'kind':11} {'id':44} {'state':20} {'age':>8} {'accelerators':24} {'$/h':>7} {'spent $':>9}")
        for o in found:
            click.echo(f"{o.kind:11} {o.remote_id:44} {o.state:20} {o.age_hours:7.1f}h {o.accelerators:24} "
                       f"{o.hourly_usd:7.2f} {o.spent_usd:9.2f}")
        total = sum(o.hourly_usd for o in found)
        click.echo(f"\n{plural(len(found), 'orphan')} burning about ${total:.2f}/h ({survey.prices_label}).")
    for note in notes:
        click.echo(note)


@click.command()
@files_option
@click.option("--endpoint", metavar="URL|local", help="Control plane to use (default: see README).")
@click.option("--state", "state_location", metavar="PATH|URL", envvar="FWCTL_STATE", help="State location.")
@format_options("text", "json")
@click.option("--detailed-exitcode", is_flag=True,
              help="Exit 2 when something is OutOfSync (and nothing Degraded or Missing).")
@click.option("--probe-timeout", default="30s", show_default=True, metavar="DURATION",
              help="Budget of each trainer's health probe (healthz, JWT exchange, tinker capabilities).")
@click.option("-v", "--verbose", count=True, help="More logging (-vv for debug).")
def status(files: tuple[str, ...], endpoint: str | None, state_location: str | None, output_format: str | None,
           as_json: bool, detailed_exitcode: bool, probe_timeout: str, verbose: int) -> None:
    """Live health and sync of every resource, and why.

    Health: Healthy, Progressing, Degraded, Suspended or Missing. Sync: Synced, or OutOfSync when
    apply would change it (Unknown when no plan can be made). Exit status 1 when anything is
    Degraded or Missing; else, with --detailed-exitcode, 2 when anything is not Synced; else 0.
    """
    import json

    from reconciler import operations

    fmt = chosen_format(output_format, as_json)
    setup_logging(verbose)
    session = operations.open_session(files, endpoint, state_location)
    report = operations.status(session, probe_timeout_s=seconds(probe_timeout, "--probe-timeout"),
                               listener=listener())
    if fmt == "json":
        usd = {a: c.before_usd_per_hour for a, c in report.costs.items()}
        click.echo(json.dumps({"stack": report.stack, "healthy": report.healthy, "synced": report.synced,
                               "usd_per_hour": report.cost.now_usd_per_hour if report.cost else None,
                               "resources": [{**r.to_dict(), "usd_per_hour": usd.get(r.address)}
                                             for r in report.resources]}, indent=2))
    else:
        from reconciler.model.money import money

        width = max((len(r.address) for r in report.resources), default=7)
        click.echo(f"{'ADDRESS':<{width}}  {'HEALTH':<11}  {'SYNC':<9}  {'USD/H':<10}  REASON")
        for r in report.resources:
            why = f"{r.reason}; {r.sync_reason}" if r.sync_reason else r.reason
            cost = report.costs.get(r.address)
            usd_text = money(cost.before_usd_per_hour) if cost is not None else "-"
            click.echo(f"{r.address:<{width}}  {r.health.value:<11}  {r.sync.value:<9}  {usd_text:<10}  {why}")
        if report.cost is not None:
            click.echo(f"\nCost now: {money(report.cost.now_usd_per_hour)} ({report.cost.label}).")
    if not report.healthy:
        sys.exit(EXIT_ERROR)
    if detailed_exitcode and not report.synced:
        sys.exit(EXIT_CHANGES)
