"""import, orphans, status: the account beside the state."""

from __future__ import annotations

import sys

import click

from reconciler.cli._common import confirm, engine_options, files_option, listener, seconds, setup_logging
from reconciler.cli._errors import EXIT_ERROR


@click.command("import")
@files_option
@engine_options
@click.argument("address")
@click.argument("remote_id")
def import_(files: tuple[str, ...], endpoint: str | None, state_location: str | None, lock_timeout: str,
            verbose: int, address: str, remote_id: str) -> None:
    """Record an existing trainer job or deployment under ADDRESS of the manifests.

    Differences between the manifest and the remote resource show up in the next plan.
    """
    from reconciler import operations

    setup_logging(verbose)
    session = operations.open_session(files, endpoint, state_location)
    operations.import_resource(session, address, remote_id, lock_timeout_s=seconds(lock_timeout),
                               listener=listener())
    click.echo(f"Imported {remote_id} as {address}. Run 'fwctl plan' to see how it differs from the manifest.")


@click.command()
@files_option
@engine_options
@click.option("--delete", "delete_them", is_flag=True, help="Delete the orphans (after confirmation).")
@click.option("--auto-approve", is_flag=True, help="Do not ask before deleting.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def orphans(files: tuple[str, ...], endpoint: str | None, state_location: str | None, lock_timeout: str,
            verbose: int, delete_them: bool, auto_approve: bool, as_json: bool) -> None:
    """List trainers and deployments fwctl created for this stack that no state references."""
    import json

    from reconciler import operations

    setup_logging(verbose)
    session = operations.open_session(files, endpoint, state_location)
    found = operations.list_orphans(session, listener=listener())
    if as_json:
        click.echo(json.dumps([{**o.__dict__, "spent_usd": round(o.spent_usd, 2)} for o in found], indent=2))
    elif not found:
        click.echo(f"No orphans: everything fwctl created for stack {session.stack} is in its state.")
    else:
        click.echo(f"{'kind':11} {'id':44} {'state':20} {'age':>8} {'accelerators':24} {'$/h':>7} {'spent $':>9}")
        for o in found:
            click.echo(f"{o.kind:11} {o.remote_id:44} {o.state:20} {o.age_hours:7.1f}h {o.accelerators:24} "
                       f"{o.hourly_usd:7.2f} {o.spent_usd:9.2f}")
        total = sum(o.hourly_usd for o in found)
        click.echo(f"\n{len(found)} orphans burning about ${total:.2f}/h (estimated on-demand prices).")
    if not delete_them or not found:
        return
    confirm(auto_approve, f"deletion of {len(found)} orphans")
    click.echo(f"Deleted {operations.delete_orphans(session, found)} orphans.")


@click.command()
@files_option
@click.option("--endpoint", metavar="URL|local", help="Control plane to use (default: see README).")
@click.option("--state", "state_location", metavar="PATH|URL", envvar="FWCTL_STATE", help="State location.")
@click.option("--json", "as_json", is_flag=True, help="Print the health report as JSON.")
@click.option("--probe-timeout", default="30s", show_default=True, metavar="DURATION",
              help="Budget of each trainer's health probe (healthz, JWT exchange, tinker capabilities).")
@click.option("-v", "--verbose", count=True, help="More logging (-vv for debug).")
def status(files: tuple[str, ...], endpoint: str | None, state_location: str | None, as_json: bool,
           probe_timeout: str, verbose: int) -> None:
    """Live health of every resource: Healthy, Progressing, Degraded, Suspended or Missing, and why.

    Exit status 1 when anything is Degraded or Missing, 0 otherwise.
    """
    import json

    from reconciler import operations

    setup_logging(verbose)
    session = operations.open_session(files, endpoint, state_location)
    report = operations.status(session, probe_timeout_s=seconds(probe_timeout, "--probe-timeout"),
                               listener=listener())
    if as_json:
        click.echo(json.dumps({"stack": report.stack, "healthy": report.healthy,
                               "resources": [r.to_dict() for r in report.resources]}, indent=2))
    else:
        width = max((len(r.address) for r in report.resources), default=7)
        click.echo(f"{'ADDRESS':<{width}}  {'HEALTH':<11}  REASON")
        for r in report.resources:
            click.echo(f"{r.address:<{width}}  {r.health.value:<11}  {r.reason}")
    if not report.healthy:
        sys.exit(EXIT_ERROR)
