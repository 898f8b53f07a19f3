"""The fwctl command line: the one composition root.

Every heavy dependency (httpx, the ASGI stack, tinker, psycopg) is imported inside the command
that needs it, so `fwctl --help` and `fwctl validate` start fast.
"""

from __future__ import annotations

import sys

import click

from reconciler import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="fwctl")
def main() -> None:
    """Declarative reconciler for Fireworks AI training infrastructure.

    Declare trainers, reference trainers, deployments and weight-sync bindings in YAML;
    `fwctl plan` shows what would change, `fwctl apply` makes it so, `fwctl destroy` tears it down.
    """


@main.command()
def version() -> None:
    """Print the fwctl version."""
    click.echo(f"fwctl {__version__}")


# --- manifests: validate, schema (issue 2) -------------------------------------------------------


@main.command()
@click.option(
    "-f",
    "--filename",
    "paths",
    multiple=True,
    default=["."],
    show_default=True,
    metavar="PATH",
    help="A manifest file, a directory of *.yaml/*.yml files, or - for stdin. Repeatable. "
    "A directory without manifests of its own is a directory of stacks: each subdirectory is checked "
    "as its own stack.",
)
@click.option(
    "-o", "--output", type=click.Choice(["text", "json"]), default="text", show_default=True, help="Report format."
)
def validate(paths: tuple[str, ...], output: str) -> None:
    """Check manifests without touching any account: every problem, with FILE:LINE:COL.

    Exit status 0 when valid, 1 when any problem was found.
    """
    import json

    from reconciler.manifest import ManifestError, discover_stacks, load_manifests

    results: list[dict[str, object]] = []
    failed = False
    for group in discover_stacks(list(paths)):
        try:
            manifests = load_manifests(group)
        except ManifestError as exc:
            failed = True
            results.append({"paths": group, "valid": False, "problems": [p.to_dict() for p in exc.problems]})
            if output == "text":
                for problem in exc.problems:
                    click.echo(str(problem), err=True)
                count = len(exc.problems)
                where = ", ".join("<stdin>" if p == "-" else p for p in group)
                click.echo(f"✗ {count} problem{'s' if count != 1 else ''} in {where}", err=True)
            continue
        count = len(manifests.resources)
        results.append(
            {"paths": group, "valid": True, "stack": manifests.stack_name, "resources": list(manifests.resources)}
        )
        if output == "text":
            noun = "resource" if count == 1 else "resources"
            click.echo(f"✓ {count} {noun} valid in stack {manifests.stack_name}")
    if output == "json":
        click.echo(json.dumps({"valid": not failed, "stacks": results}, indent=2))
    if failed:
        sys.exit(1)


@main.command()
@click.option(
    "--out", "out_dir", default="schemas", show_default=True, metavar="DIR", help="Directory to write into."
)
@click.option("--check", is_flag=True, help="Write nothing; exit 1 if DIR differs from what would be written.")
def schema(out_dir: str, check: bool) -> None:
    """Write the JSON Schema of every manifest kind (and manifest.schema.json, any kind) into DIR.

    Point an editor at it with a first line such as
    `# yaml-language-server: $schema=schemas/manifest.schema.json`.
    """
    import os

    from reconciler.model.schema import schema_files, write_schemas

    if check:
        stale = []
        for file_name, text in schema_files().items():
            path = os.path.join(out_dir, file_name)
            try:
                with open(path, encoding="utf-8") as handle:
                    current = handle.read()
            except OSError:
                current = None
            if current != text:
                stale.append(path)
        for path in stale:
            click.echo(f"out of date: {path}", err=True)
        if stale:
            click.echo("run `fwctl schema` to regenerate", err=True)
            sys.exit(1)
        click.echo(f"✓ schemas in {out_dir} are up to date")
        return
    for path in write_schemas(out_dir):
        click.echo(f"wrote {path}")


# --- the local control plane: fwctl local ... (issue 3) ------------------------------------------


_LOCAL_ENDPOINT = "http://127.0.0.1:8787"


@main.group()
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
@click.option("--speed", default=1.0, show_default=True, type=float, help="Divide every emulated duration by this.")
@click.option(
    "--catalog",
    "catalog_path",
    default=None,
    type=click.Path(exists=True, dir_okay=False),
    help="Catalog YAML replacing the packaged one.",
)
@click.option("--rate-limit", type=float, default=None, help="Requests/s before answering 429 (default: none).")
def local_serve(
    host: str,
    port: int,
    db_path: str,
    account: str,
    api_keys: tuple[str, ...],
    speed: float,
    catalog_path: str | None,
    rate_limit: float | None,
) -> None:
    """Serve the local control plane over HTTP."""
    from reconciler.local import DEFAULT_API_KEY, LocalConfig, serve

    try:
        config = LocalConfig(
            db_path=db_path,
            account=account,
            api_keys=api_keys or (DEFAULT_API_KEY,),
            speed=speed,
            catalog_path=catalog_path,
            rate_limit=rate_limit,
        )
    except ValueError as err:
        raise click.UsageError(str(err)) from None
    keys = f"{len(config.api_keys)} custom key(s)" if api_keys else "the local default key"
    click.echo(
        f"fwctl local control plane on http://{host}:{port} (account {account}, db {db_path}, "
        f"speed {speed:g}x, {keys})",
        err=True,
    )
    serve(config, host=host, port=port)


def _local_request(endpoint: str, api_key: str | None, method: str, path: str, body: object = None) -> object:
    """One admin call against a local control plane; exits with the server's message on failure."""
    import httpx

    from reconciler.local import DEFAULT_API_KEY

    headers = {"X-Api-Key": api_key or DEFAULT_API_KEY}
    try:
        with httpx.Client(base_url=endpoint.rstrip("/"), headers=headers, timeout=30.0) as client:
            resp = client.request(method, path, json=body)
    except httpx.HTTPError as err:
        raise click.ClickException(f"cannot reach the local control plane at {endpoint}: {err}") from None
    try:
        data = resp.json()
    except ValueError:
        data = {"message": resp.text[:200]}
    if resp.status_code >= 400:
        message = data.get("message", data) if isinstance(data, dict) else data
        raise click.ClickException(f"{method} {path}: HTTP {resp.status_code}: {message}")
    return data


def _local_options(func):  # type: ignore[no-untyped-def]
    func = click.option(
        "--api-key",
        envvar="FIREWORKS_API_KEY",
        default=None,
        help="API key (default: $FIREWORKS_API_KEY, else the local default key).",
    )(func)
    func = click.option(
        "--endpoint", default=_LOCAL_ENDPOINT, show_default=True, help="The local control plane's URL."
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

    if account is None:
        accounts = _local_request(endpoint, api_key, "GET", "/v1/accounts?pageSize=2")
        account = str(accounts["accounts"][0]["name"]).split("/", 1)[1]  # type: ignore[index]
    result = _local_request(
        endpoint, api_key, "POST", f"/_local/v1/accounts/{account}/rlorTrainerJobs/{job}/snapshots", {"name": name}
    )
    click.echo(json.dumps(result, indent=2))


@local.command("fault")
@_local_options
@click.argument("kind", required=False, type=click.Choice(["preempt", "fail", "errors", "latency", "capacity"]))
@click.option("--clear", is_flag=True, help="Clear the standing faults (errors, latency, capacity).")
@click.option("--trainer", default=None, help="preempt: the trainer job id.")
@click.option("--deployment", default=None, help="fail: the deployment id.")
@click.option("--message", default=None, help="preempt/fail: the status message.")
@click.option("--rate", type=float, default=None, help="errors: the fraction of requests answered with an error.")
@click.option("--status", "statuses", type=int, multiple=True, help="errors: an HTTP status to inject (repeatable).")
@click.option("--count", type=int, default=None, help="errors: stop after this many injected errors.")
@click.option("--ms", type=float, default=None, help="latency: milliseconds added to every request.")
@click.option("--pending-seconds", type=float, default=None, help="capacity: extra PENDING time for new trainers.")
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
) -> None:
    """Inject a fault into a local control plane (or --clear the standing ones)."""
    import json

    if clear:
        result = _local_request(endpoint, api_key, "DELETE", "/_local/v1/faults")
    else:
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
        ):
            if value is not None:
                body[key] = value
        if statuses:
            body["statuses"] = list(statuses)
        result = _local_request(endpoint, api_key, "POST", "/_local/v1/faults", body)
    click.echo(json.dumps(result, indent=2))



# --- plan / apply / destroy / show / output / state (issue 4) ------------------------------------


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
