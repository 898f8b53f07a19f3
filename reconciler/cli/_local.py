"""fwctl local ...: serve the local control plane, and drive its admin endpoints."""

from __future__ import annotations

from typing import Any

import click

LOCAL_ENDPOINT = "http://127.0.0.1:8787"


@click.group()
def local() -> None:
    """The local Fireworks control plane: serve it, and drive its admin endpoints."""


@local.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8787, show_default=True, type=int, help="Port to bind.")
@click.option("--db", "db_path", default=".fwctl/local.db", show_default=True, help="SQLite database file.")
@click.option("--account", default="fwctl-local", show_default=True, help="The one account the keys resolve to.")
@click.option(
    "--api-key",
    "api_keys",
    multiple=True,
    help="An accepted API key (repeatable; default: the local default key).",
)
@click.option("--admin-key", "admin_keys", multiple=True,
              help="A superuser key, needed for skipValidations (repeatable; default: fwctl-local-admin-key).")
@click.option("--speed", default=1.0, show_default=True, type=float, help="Divide every emulated duration by this.")
@click.option(
    "--catalog",
    "catalog_path",
    default=None,
    type=click.Path(exists=True, dir_okay=False),
    help="Catalog YAML replacing the packaged one.",
)
@click.option("--rate-limit", type=float, default=None, help="Requests/s before answering 429 (default: none).")
@click.option("--quota", "quotas", multiple=True, metavar="NAME=VALUE",
              help="Set an account quota, e.g. nvidia-h200-141gb=8 (repeatable; default: 16 GPUs per type).")
@click.option("--deployments-stay-creating", is_flag=True, default=False,
              help="Hot-load deployments report CREATING while they already serve (as some platform deployments do).")
def local_serve(
    host: str,
    port: int,
    db_path: str,
    account: str,
    api_keys: tuple[str, ...],
    speed: float,
    catalog_path: str | None,
    rate_limit: float | None,
    quotas: tuple[str, ...] = (),
    admin_keys: tuple[str, ...] = (),
    deployments_stay_creating: bool = False,
) -> None:
    """Serve the local control plane over HTTP."""
    from reconciler.operations import local_config, serve_local

    parsed: list[tuple[str, float]] = []
    for item in quotas:
        name, sep, value = item.partition("=")
        try:
            parsed.append((name.strip(), float(value)))
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            raise click.UsageError(f"--quota {item!r}: expected NAME=VALUE, e.g. nvidia-h200-141gb=8")
    try:
        config = local_config(db_path=db_path, account=account, api_keys=api_keys, speed=speed,
                              catalog_path=catalog_path, rate_limit=rate_limit, quotas=tuple(parsed),
                              admin_keys=admin_keys, deployments_stay_creating=deployments_stay_creating)
    except ValueError as err:
        raise click.UsageError(str(err)) from None
    from reconciler.render import plural

    keys = plural(len(config.api_keys), "custom key") if api_keys else "the local default key"
    click.echo(
        f"fwctl local control plane on http://{host}:{port} (account {account}, db {db_path}, "
        f"speed {speed:g}x, {keys})",
        err=True,
    )
    serve_local(config, host=host, port=port)


def _local_options(func: Any) -> Any:
    func = click.option(
        "--api-key",
        envvar="FIREWORKS_API_KEY",
        default=None,
        help="API key (default: $FIREWORKS_API_KEY, else the local default key).",
    )(func)
    func = click.option(
        "--endpoint", default=LOCAL_ENDPOINT, show_default=True, help="The local control plane's URL."
    )(func)
    return func


@local.command("snapshot")
@_local_options
@click.option("--account", default=None, help="Account (default: the one the key resolves to).")
@click.argument("job")
@click.argument("name")
def local_snapshot(endpoint: str, api_key: str | None, account: str | None, job: str, name: str) -> None:
    """Save sampler snapshot NAME on trainer JOB (as save_weights_for_sampler would) and print its identity."""
    import json

    from reconciler.operations import save_snapshot

    click.echo(json.dumps(save_snapshot(endpoint, api_key, account, job, name), indent=2))


@local.command("fault")
@_local_options
@click.argument("kind", required=False, type=click.Choice(
    ["preempt", "fail", "errors", "latency", "capacity", "hotload-error", "delete-error",
     "idle", "early-stop", "cancelling", "requeue"]))
@click.option("--clear", is_flag=True, help="Clear the standing faults (errors, latency, capacity).")
@click.option("--trainer", default=None, help="preempt / delete-error / idle / early-stop / cancelling / requeue: the trainer job id.")
@click.option("--deployment", default=None, help="fail / hotload-error / delete-error: the deployment id.")
@click.option("--message", default=None, help="preempt / fail / hotload-error: the message.")
@click.option("--rate", type=float, default=None, help="errors: the fraction of requests answered with an error.")
@click.option("--status", "statuses", type=int, multiple=True, help="errors: an HTTP status to inject (repeatable; 0 drops the connection); delete-error: the status its DELETE answers.")
@click.option("--count", type=int, default=None, help="errors: stop after this many injected errors.")
@click.option("--ms", type=float, default=None, help="latency: milliseconds added to every request.")
@click.option("--pending-seconds", type=float, default=None, help="capacity: extra PENDING time for new trainers; cancelling / requeue: how long the job stays in that state.")
@click.option("--reject", is_flag=True, help="capacity: creates and scale-ups that need GPUs fail with "
              "RESOURCE_EXHAUSTED (no capacity) instead of waiting in PENDING.")
def local_fault(
    endpoint: str,
    api_key: str | None,
    kind: str | None,
    clear: bool,
    trainer: str | None,
    deployment: str | None,
    message: str | None,
    rate: float | None,
    statuses: tuple[int, ...],
    count: int | None,
    ms: float | None,
    pending_seconds: float | None,
    reject: bool,
) -> None:
    """Inject a fault into a local control plane (or --clear the standing ones)."""
    import json

    from reconciler.operations import clear_faults, inject_fault

    if clear:
        click.echo(json.dumps(clear_faults(endpoint, api_key), indent=2))
        return
    if kind is None:
        raise click.UsageError("give a fault KIND or --clear")
    body: dict[str, object] = {"kind": kind}
    for key, value in (
        ("trainer", trainer),
        ("deployment", deployment),
        ("message", message),
        ("rate", rate),
        ("count", count),
        ("ms", ms),
        ("pendingSeconds", pending_seconds),
        ("reject", reject or None),
    ):
        if value is not None:
            body[key] = value
    if statuses and kind == "delete-error":  # its DELETE answers this status until cleared (or --count)
        body["status"] = statuses[0]
    elif statuses:
        body["statuses"] = list(statuses)
    click.echo(json.dumps(inject_fault(endpoint, api_key, body), indent=2))
