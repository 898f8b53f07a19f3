"""cost, and the --prices / --max-usd-per-hour options of plan and apply (issue 15)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import click

from reconciler.cli._common import engine_options, files_option, listener, setup_logging

F = TypeVar("F", bound=Callable[..., Any])


def prices_option(fn: F) -> F:
    """``--prices FILE`` (plan, apply, cost, orphans: one price table for every figure)."""
    return click.option("--prices", "prices_file", metavar="FILE", default=None,
                        help="A JSON price table ({asOf, usdPerAcceleratorHour}) overriding the packaged one "
                             "and the Stack's spec.prices.")(fn)


def limit_options(fn: F) -> F:
    """``--prices FILE`` and ``--max-usd-per-hour N``."""
    fn = click.option("--max-usd-per-hour", "max_usd_per_hour", type=click.FloatRange(min=0, min_open=True),
                      default=None, metavar="USD",
                      help="Refuse a plan whose estimated cost at max replicas exceeds USD per hour "
                           "(overrides the Stack's spec.budget.maxUsdPerHour).")(fn)
    return prices_option(fn)


@click.command()
@files_option
@engine_options
@prices_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def cost(files: tuple[str, ...], endpoint: str | None, state_location: str | None, lock_timeout: str,
         verbose: int, prices_file: str | None, as_json: bool) -> None:
    """What the stack costs now: each resource's live GPUs and estimated USD/hour, and the total.

    From a fresh read of the account; a READY deployment with replicas up is billed even when idle.
    """
    from reconciler import operations
    from reconciler.model.money import gpus_text, money

    setup_logging(verbose)
    session = operations.open_session(files, endpoint, state_location)
    report = operations.status(session, listener=listener(), prices_file=prices_file)
    rows = [(r, report.costs[r.address]) for r in report.resources if r.address in report.costs]
    total = report.cost
    if total is None:  # no plan could be made (the sync column says why): nothing to price
        raise click.ClickException("cannot price the stack: " + "; ".join(
            sorted({r.sync_reason for r in report.resources if r.sync_reason})))

    def flag(health: str, usd: float) -> str:
        # A READY deployment with replicas up, or a running trainer, is billed even when idle; one that is
        # Degraded or Suspended may be billed without doing any work.
        return f"{health}, billed" if usd > 0 and health in ("Degraded", "Suspended") else health

    if as_json:
        click.echo(json.dumps({
            "stack": report.stack, "label": total.label, "prices_as_of": total.prices_as_of,
            "resources": [{"address": r.address, "health": r.health.value,
                           "gpus": c.before.model_dump(mode="json") if c.before else None,
                           "usd_per_hour": c.before_usd_per_hour, "max_usd_per_hour": c.before_max_usd_per_hour,
                           "flagged": flag(r.health.value, c.before_usd_per_hour) != r.health.value}
                          for r, c in rows],
            "total_usd_per_hour": total.now_usd_per_hour,
            "total_max_usd_per_hour": round(sum(c.before_max_usd_per_hour for _, c in rows), 2)}, indent=2))
        return
    width = max([len(r.address) for r, _ in rows] + [8])
    click.echo(f"{'ADDRESS':<{width}}  {'HEALTH':<19}  {'GPUS':<36}  USD/H")
    for r, c in rows:
        click.echo(f"{r.address:<{width}}  {flag(r.health.value, c.before_usd_per_hour):<19}  "
                   f"{gpus_text(c.before):<36}  {money(c.before_usd_per_hour)}")
    click.echo(f"\nTotal: {money(total.now_usd_per_hour)} ({total.label}); replicas that are up are billed, "
               "even idle.")


__all__ = ["cost", "limit_options"]
