"""The fwctl command line: the one composition root.

Every heavy dependency (httpx, the ASGI stack, tinker, psycopg) is imported inside the command
that needs it, so `fwctl --help` and `fwctl validate` start fast.
"""

from __future__ import annotations

import sys
from typing import Any

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
@click.argument("kind", required=False, type=click.Choice(["preempt", "fail", "errors", "latency", "capacity", "hotload-error"]))
@click.option("--clear", is_flag=True, help="Clear the standing faults (errors, latency, capacity).")
@click.option("--trainer", default=None, help="preempt: the trainer job id.")
@click.option("--deployment", default=None, help="fail / hotload-error: the deployment id.")
@click.option("--message", default=None, help="preempt / fail / hotload-error: the message.")
@click.option("--rate", type=float, default=None, help="errors: the fraction of requests answered with an error.")
@click.option("--status", "statuses", type=int, multiple=True, help="errors: an HTTP status to inject (repeatable; 0 drops the connection).")
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

EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2


class _Fail(click.ClickException):
    """A one-line (or one-line-per-problem) error and exit status 1; never a traceback."""

    exit_code = EXIT_ERROR

    def show(self, file: Any = None) -> None:
        click.echo(self.format_message(), err=True)


def _files_option(fn: Any) -> Any:
    return click.option(
        "-f", "--file", "files", multiple=True, metavar="PATH",
        help="Manifest file or directory (repeatable; '-' for stdin). Default: the current directory.",
    )(fn)


def _engine_options(fn: Any) -> Any:
    fn = click.option("--endpoint", metavar="URL|local", help="Control plane to use (default: see README).")(fn)
    fn = click.option("--state", "state_location", metavar="PATH|URL", envvar="FWCTL_STATE",
                      help="State location (default .fwctl/state.json; env FWCTL_STATE).")(fn)
    fn = click.option("--lock-timeout", default="0s", show_default=True, metavar="DURATION", envvar="FWCTL_LOCK_TIMEOUT",
                      help="How long to wait for a state lock held by someone else.")(fn)
    fn = click.option("-v", "--verbose", count=True, help="More logging (-vv for debug).")(fn)
    return fn


def _setup_logging(verbose: int) -> None:
    import logging

    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(levelname)s %(message)s", stream=sys.stderr)


def _seconds(text: str) -> float:
    from reconciler.model.duration import parse_duration

    try:
        return float(parse_duration(text))
    except (ValueError, TypeError) as exc:
        raise _Fail(f"--lock-timeout: {exc}") from None


class _Session:
    """Everything one command wires together: manifests, endpoint, state backend, provider."""

    def __init__(self, files: tuple[str, ...], endpoint_flag: str | None, state_location: str | None,
                 *, need_manifests: bool = True):
        import os

        from reconciler.manifest import ManifestError, load_manifests
        from reconciler.provider.endpoint import resolve_endpoint
        from reconciler.state import StateError, open_backend

        self.manifests = None
        if need_manifests:
            try:
                self.manifests = load_manifests(list(files) or ["."])
            except ManifestError as exc:
                raise _Fail(str(exc)) from None
        stack_spec = self.manifests.stack.spec if self.manifests and self.manifests.stack else None
        self.stack = self.manifests.stack_name if self.manifests else "default"
        try:
            self.endpoint = resolve_endpoint(endpoint_flag, os.environ, stack_spec.endpoint if stack_spec else None)
        except ValueError as exc:
            raise _Fail(str(exc)) from None
        location = state_location or (stack_spec.state if stack_spec else None)
        try:
            self.backend = open_backend(location, stack=self.stack)
        except StateError as exc:
            raise _Fail(str(exc)) from None

    def notice(self) -> None:
        if self.endpoint.embedded:
            click.echo(
                "Using the embedded local control plane (.fwctl/local.db); set FIREWORKS_API_KEY "
                "(or --endpoint URL) to target Fireworks.", err=True,
            )

    def provider(self) -> Any:
        import httpx

        from reconciler.provider import FireworksProvider

        if self.endpoint.embedded:
            import os

            from reconciler.local import LocalConfig, create_app

            db = os.environ.get("FWCTL_LOCAL_DB", ".fwctl/local.db")
            speed = float(os.environ.get("FWCTL_LOCAL_SPEED", "1"))
            app = create_app(LocalConfig(db_path=db, speed=speed))
            transport = httpx.ASGITransport(app=app)
            return FireworksProvider("http://fwctl-local", self.endpoint.api_key, transport=transport)
        return FireworksProvider(self.endpoint.url, self.endpoint.api_key)

    def read_state(self) -> Any:
        from reconciler.state import StateError

        try:
            return self.backend.read()
        except StateError as exc:
            raise _Fail(str(exc)) from None

    def lock(self, operation: str, timeout: float) -> str:
        import getpass
        import os
        import socket

        from reconciler.model.state import LockInfo
        from reconciler.state import LockHeld, StateError, lock_with_timeout

        host = socket.gethostname()
        info = LockInfo(operation=operation, who=f"{getpass.getuser()}@{host}", host=host, pid=os.getpid(),
                        version=__version__, path=self.backend.describe())

        def waiting(holder: LockInfo) -> None:
            click.echo(f"Waiting for the state lock: {holder.describe()}", err=True)

        try:
            return lock_with_timeout(self.backend, info, timeout, on_wait=waiting)
        except LockHeld as exc:
            raise _Fail(f"the state at {self.backend.describe()} is locked: {exc.holder.describe()}; "
                        f"retry later, raise --lock-timeout, or run 'fwctl force-unlock {exc.holder.id}'") from None
        except StateError as exc:
            raise _Fail(str(exc)) from None


async def _make_plan(session: _Session, provider: Any, prior: Any, *, destroy: bool,
                     targets: tuple[str, ...]) -> Any:
    import uuid

    from reconciler.planner import PlanError, PlanRequest, plan_changes
    from reconciler.provider.errors import ProviderError
    from reconciler.refresh import refresh

    manifests = session.manifests
    resources = manifests.resources if manifests else {}
    try:
        observed = await refresh(provider, session.stack, resources, prior)
    except ProviderError as exc:
        raise _Fail(f"reading the account failed: {exc}") from None
    stack_spec = manifests.stack.spec if manifests and manifests.stack else None
    request = PlanRequest(
        stack=session.stack,
        endpoint=session.endpoint.url,
        observed=observed,
        prior=prior,
        resources=resources,
        stack_region=stack_spec.region if stack_spec else None,
        manifests_digest=manifests.digest if manifests else "",
        destroy=destroy,
        targets=targets,
        id_seed=prior.lineage if prior else str(uuid.uuid4()),
        locate=manifests.locate if manifests else None,
    )
    try:
        return plan_changes(request)
    except PlanError as exc:
        raise _Fail(str(exc)) from None


def _colour() -> bool:
    import os

    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def _print_plan(plan: Any) -> None:
    from reconciler.render import plan_text

    if _colour():
        from rich.console import Console

        Console(highlight=False).print(plan_text(plan, colour=True))
    else:
        click.echo(plan_text(plan))


@main.command()
@click.option("--refresh-only", is_flag=True,
              help="Bring state in line with the platform without proposing changes (drift check).")
@_files_option
@_engine_options
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when changes are pending, 0 when none.")
@click.option("--destroy", "destroy", is_flag=True, help="Plan the destruction of everything in state.")
@click.option("--target", "targets", multiple=True, metavar="ADDR", help="Limit to ADDR and its dependencies.")
@click.option("--format", "output_format", type=click.Choice(["text", "json", "markdown"]), default=None,
              help="Output: text (default), json (schemas/plan.schema.json) or markdown (for a pull request).")
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@click.option("--out", "out_file", metavar="FILE", help="Also save the plan (with its manifests) for `fwctl apply FILE`.")
def plan(files: tuple[str, ...], endpoint: str | None, state_location: str | None, lock_timeout: str,
         verbose: int, detailed_exitcode: bool, destroy: bool, targets: tuple[str, ...], output_format: str | None,
         as_json: bool, out_file: str | None, refresh_only: bool) -> None:
    """Show what apply would do, and why."""
    import asyncio
    import json

    if as_json and output_format not in (None, "json"):
        raise click.UsageError("--json conflicts with --format " + str(output_format))
    output_format = "json" if as_json else output_format or "text"
    _setup_logging(verbose)
    session = _Session(files, endpoint, state_location)
    session.notice()
    if refresh_only:
        _refresh_only(session, _seconds(lock_timeout), detailed_exitcode, output_format == "json")
        return
    lock_id = session.lock("plan", _seconds(lock_timeout))
    try:
        prior = session.read_state()

        async def run() -> Any:
            async with session.provider() as provider:
                return await _make_plan(session, provider, prior, destroy=destroy, targets=targets)

        result = asyncio.run(run())
    finally:
        session.backend.unlock(lock_id)
    if output_format == "json":
        from reconciler.render import plan_json

        click.echo(json.dumps(plan_json(result), indent=2))
    elif output_format == "markdown":
        from reconciler.render import plan_markdown

        click.echo(plan_markdown(result), nl=False)
    else:
        _print_plan(result)
    if out_file:
        from reconciler.planfile import PlanFileError, write_plan_file

        assert session.manifests is not None
        try:
            write_plan_file(out_file, result, session.manifests.sources)
        except PlanFileError as exc:
            raise _Fail(str(exc)) from None
        click.echo(f"Saved the plan to {out_file}; to perform exactly these actions, run: fwctl apply {out_file}",
                   err=True)
    if detailed_exitcode and result.has_changes:
        sys.exit(EXIT_CHANGES)


def _refresh_only(session: _Session, lock_timeout: float, detailed_exitcode: bool, as_json: bool) -> None:
    """`plan --refresh-only`: record what changed on the platform; exit 2 on drift if asked."""
    import asyncio
    import json

    from reconciler.drift import detect_drift
    from reconciler.provider.errors import ProviderError
    from reconciler.refresh import refresh

    lock_id = session.lock("refresh", lock_timeout)
    try:
        prior = session.read_state()
        if prior is None:
            drifts: list[Any] = []
        else:
            async def read() -> Any:
                async with session.provider() as provider:
                    return await refresh(provider, session.stack, session.manifests.resources if session.manifests else {}, prior)

            try:
                observed = asyncio.run(read())
            except ProviderError as exc:
                raise _Fail(f"reading the account failed: {exc}") from None
            drifts, refreshed = detect_drift(prior, observed)
            if drifts:
                session.backend.write(refreshed.next_version())
    finally:
        session.backend.unlock(lock_id)
    if as_json:
        click.echo(json.dumps({"drift": [{"address": d.address, "message": d.message} for d in drifts]}, indent=2))
    elif drifts:
        click.echo("Objects have changed outside of fwctl (the state now records them):\n")
        for d in drifts:
            click.echo(f"  {d.address}: {d.message}")
        click.echo(f"\nDrift: {len(drifts)} changes found. Run 'fwctl plan' to see what apply would do about them.")
    else:
        click.echo("No drift: the platform matches what fwctl recorded.")
    if detailed_exitcode and drifts:
        sys.exit(EXIT_CHANGES)


def _confirm(auto_approve: bool, what: str) -> None:
    if auto_approve:
        return
    if not sys.stdin.isatty():
        raise _Fail(f"no terminal to confirm the {what}: re-run with --auto-approve")
    answer = click.prompt(f"Do you want to perform this {what}? Only 'yes' will be accepted", default="",
                          show_default=False)
    if answer.strip() != "yes":
        raise _Fail(f"{what} cancelled")


def _apply_command(files: tuple[str, ...], endpoint: str | None, state_location: str | None, lock_timeout: str,
                   verbose: int, auto_approve: bool, parallelism: int, destroy: bool,
                   targets: tuple[str, ...]) -> None:
    import asyncio
    import signal


    # Ctrl-C (or a runner's SIGINT) must stop an apply even when the parent started us with SIGINT
    # ignored, as shells do for background jobs.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    _setup_logging(verbose)
    session = _Session(files, endpoint, state_location)
    session.notice()
    what = "destroy" if destroy else "apply"
    lock_id = session.lock(what, _seconds(lock_timeout))
    try:
        prior = session.read_state()

        async def run() -> Any:
            async with session.provider() as provider:
                the_plan = await _make_plan(session, provider, prior, destroy=destroy, targets=targets)
                _print_plan(the_plan)
                if not the_plan.has_changes:
                    return None
                await asyncio.to_thread(_confirm, auto_approve, what)
                return await _execute(session, provider, prior, the_plan, parallelism)

        result = asyncio.run(run())
    except KeyboardInterrupt:
        raise _Fail("interrupted: finished changes are recorded in state; run apply again to continue") from None
    finally:
        session.backend.unlock(lock_id)
    _report_apply(result, what)


async def _execute(session: _Session, provider: Any, prior: Any, the_plan: Any, parallelism: int) -> Any:
    """Carry a plan out: the one place an Executor is built (fresh and saved plans alike)."""
    from reconciler.executor import Executor, StateRecorder, initial_state

    doc = prior or initial_state(session.stack, the_plan.state_lineage, session.endpoint.url,
                                 the_plan.account, __version__)
    reporter = _reporter()
    executor = Executor(provider, StateRecorder(session.backend, doc), reporter=reporter,
                        parallelism=parallelism, health_probe=_health_probe(session, provider))
    try:
        return await executor.apply(the_plan)
    finally:
        reporter.close()


def _report_apply(result: Any, what: str) -> None:
    if result is None:
        return
    click.echo("")
    if result.ok:
        click.echo(f"{what.capitalize()} complete: {len(result.done)} changes carried out.")
        return
    lines = [f"{what.capitalize()} failed: {len(result.done)} done, {len(result.failed)} failed, "
             f"{len(result.skipped)} skipped."]
    lines += [f"  {address}: {message}" for address, message in result.failed.items()]
    lines += [f"  {address}: skipped ({message})" for address, message in result.skipped.items()]
    raise _Fail("\n".join(lines))


def _health_probe(session: _Session, provider: Any) -> Any:
    """The executor's trainer check (issue 5, point 6): healthz, JWT exchange, tinker capabilities."""
    import logging

    from reconciler.executor import ChangeFailed
    from reconciler.health import HealthError, probe_trainer

    log = logging.getLogger("fwctl.health")
    if not session.endpoint.embedded:
        import threading

        # `import tinker` costs ~0.5 s: do it while the trainers boot, not after they are up.
        threading.Thread(target=__import__, args=("tinker",), daemon=True).start()

    async def probe(job_id: str, config: Any) -> None:
        if session.endpoint.embedded:
            # The tinker client speaks real HTTP and cannot reach the in-process ASGI app.
            log.debug("trainer %s: embedded control plane, tinker capabilities probe skipped (healthz only)",
                      job_id)
            if not await provider.trainer_healthy(job_id):
                raise ChangeFailed(f"trainer job {job_id}: the gateway healthz does not answer")
            return
        gateway = await provider.trainer_gateway_url(job_id)
        try:
            await probe_trainer(gateway, session.endpoint.api_key, base_model=config.base_model,
                                max_context_length=config.max_context_length)
        except HealthError as exc:
            raise ChangeFailed(f"trainer job {job_id} failed its health check: {exc}") from None
        log.debug("trainer %s: tinker capabilities list %s", job_id, config.base_model)

    return probe


def _check_saved_plan(the_plan: Any, session: _Session, prior: Any, plan_file: str) -> None:
    """Refuse a saved plan made for another stack or endpoint, or from a state that has moved since."""
    where = session.backend.describe()
    again = "make a new plan with `fwctl plan --out FILE`"
    if the_plan.endpoint != session.endpoint.url:
        raise _Fail(f"{plan_file} was made for endpoint {the_plan.endpoint}, not {session.endpoint.url}; "
                    f"use --endpoint {the_plan.endpoint} or {again}")
    if prior is not None and prior.stack != the_plan.stack:
        raise _Fail(f"{plan_file} is a plan for stack {the_plan.stack}, but the state at {where} belongs to "
                    f"stack {prior.stack}; use the --state of stack {the_plan.stack}")
    if prior is not None and prior.account and prior.account != the_plan.account:
        raise _Fail(f"{plan_file} is a plan for account {the_plan.account}, but the state at {where} belongs to "
                    f"account {prior.account}")
    if prior is None:
        if the_plan.state_serial != 0:
            raise _Fail(f"stale plan: {plan_file} was made from state serial {the_plan.state_serial} "
                        f"(lineage {the_plan.state_lineage}), but there is no state at {where} now; {again}")
        return
    if the_plan.state_serial == 0 or (prior.lineage, prior.serial) != (the_plan.state_lineage, the_plan.state_serial):
        made = (f"serial {the_plan.state_serial} (lineage {the_plan.state_lineage})" if the_plan.state_serial
                else "no state")
        raise _Fail(f"stale plan: {plan_file} was made from {made}, but the state at {where} is now serial "
                    f"{prior.serial} (lineage {prior.lineage}); {again}")


def _apply_saved_plan(plan_file: str, files: tuple[str, ...], endpoint: str | None, state_location: str | None,
                      lock_timeout: str, verbose: int, parallelism: int) -> None:
    """Carry out exactly the plan in PLAN_FILE, with the manifests saved in it; no confirmation."""
    import asyncio
    import tempfile

    from reconciler.planfile import PlanFileError, read_plan_file, write_sources
    from reconciler.provider.errors import ProviderError

    _setup_logging(verbose)
    try:
        saved = read_plan_file(plan_file)
    except PlanFileError as exc:
        raise _Fail(str(exc)) from None
    the_plan = saved.plan
    what = "destroy" if the_plan.destroy else "apply"
    if files:
        from reconciler.manifest import ManifestError, load_manifests

        try:
            given = load_manifests(list(files))
        except ManifestError as exc:
            raise _Fail(str(exc)) from None
        if given.stack_name != the_plan.stack:
            raise _Fail(f"{plan_file} is a plan for stack {the_plan.stack}, but -f names stack {given.stack_name}")
        if given.digest != the_plan.manifests_digest:
            raise _Fail(f"the manifests changed since {plan_file} was made; make a new plan with "
                        f"`fwctl plan --out FILE`, or drop -f to apply the manifests saved in the plan")
    with tempfile.TemporaryDirectory(prefix="fwctl-plan-") as tmp:
        session = _Session(tuple(write_sources(tmp, saved.manifests)), endpoint, state_location)
        assert session.manifests is not None
        if session.stack != the_plan.stack or session.manifests.digest != the_plan.manifests_digest:
            raise _Fail(f"{plan_file}: its manifests do not match its plan (stack or digest differs); "
                        f"make a new plan with `fwctl plan --out FILE`")
        session.notice()
        lock_id = session.lock(what, _seconds(lock_timeout))
        try:
            prior = session.read_state()
            _check_saved_plan(the_plan, session, prior, plan_file)

            async def run() -> Any:
                async with session.provider() as provider:
                    try:
                        account = await provider.account_id()
                    except ProviderError as exc:
                        raise _Fail(f"reading the account failed: {exc}") from None
                    if account != the_plan.account:
                        raise _Fail(f"{plan_file} is a plan for account {the_plan.account}, but the API key "
                                    f"resolves to account {account}")
                    _print_plan(the_plan)
                    if not the_plan.has_changes:
                        return None
                    return await _execute(session, provider, prior, the_plan, parallelism)

            result = asyncio.run(run())
        except KeyboardInterrupt:
            raise _Fail("interrupted: finished changes are recorded in state; make a new plan to continue") from None
        finally:
            session.backend.unlock(lock_id)
    _report_apply(result, what)


def _reporter() -> Any:
    from reconciler.progress import LineReporter, TableReporter

    return TableReporter() if sys.stdout.isatty() and sys.stderr.isatty() else LineReporter()


@main.command()
@_files_option
@_engine_options
@click.option("--auto-approve", is_flag=True, help="Do not ask for confirmation.")
@click.option("--parallelism", default=10, show_default=True, help="Changes carried out at once.")
@click.option("--target", "targets", multiple=True, metavar="ADDR", help="Limit to ADDR and its dependencies.")
@click.argument("plan_file", required=False, metavar="[PLAN_FILE]")
def apply(files: tuple[str, ...], endpoint: str | None, state_location: str | None, lock_timeout: str,
          verbose: int, auto_approve: bool, parallelism: int, targets: tuple[str, ...],
          plan_file: str | None) -> None:
    """Make the account match the manifests.

    With PLAN_FILE (from `fwctl plan --out`), carry out exactly that plan, without asking: it is refused
    if the state moved since it was made, or it was made for another stack, endpoint or account.
    """
    if plan_file:
        if targets:
            raise click.UsageError("--target cannot be used with a saved plan; give it to `fwctl plan --out`")
        _apply_saved_plan(plan_file, files, endpoint, state_location, lock_timeout, verbose, parallelism)
        return
    _apply_command(files, endpoint, state_location, lock_timeout, verbose, auto_approve, parallelism,
                   False, targets)


@main.command()
@_files_option
@_engine_options
@click.option("--auto-approve", is_flag=True, help="Do not ask for confirmation.")
@click.option("--parallelism", default=10, show_default=True, help="Changes carried out at once.")
def destroy(files: tuple[str, ...], endpoint: str | None, state_location: str | None, lock_timeout: str,
            verbose: int, auto_approve: bool, parallelism: int) -> None:
    """Tear the stack down: trainers deleted, deployments scaled to zero (or per onDestroy)."""
    _apply_command(files, endpoint, state_location, lock_timeout, verbose, auto_approve, parallelism, True, ())





def _state_only(files: tuple[str, ...], state_location: str | None) -> _Session:
    """A session for commands that need the state, not the account.

    The stack (a PostgreSQL state's row key) and its state location come from ``-f``, else from
    the manifests in the current directory when they load, else ``default``.
    """
    from reconciler.manifest import ManifestError, load_manifests

    if not files:
        try:
            load_manifests(["."])
            files = (".",)
        except (ManifestError, OSError):
            pass
    return _Session(files, "local", state_location, need_manifests=bool(files))


def _state_options(fn: Any) -> Any:
    fn = click.option("--stack", "stack", metavar="NAME",
                      help="Stack name (default: from the manifests, else 'default').")(fn)
    fn = click.option("--state", "state_location", metavar="PATH|URL", envvar="FWCTL_STATE",
                      help="State location.")(fn)
    return _files_option(fn)


def _state_session(files: tuple[str, ...], state_location: str | None, stack: str | None) -> _Session:
    """A state-only session; ``--stack`` overrides the stack name (the row key of a PostgreSQL state)."""
    from reconciler.state import StateError, open_backend

    session = _state_only(files, state_location)
    if stack and stack != session.stack:
        spec = session.manifests.stack.spec if session.manifests and session.manifests.stack else None
        session.stack = stack
        try:
            session.backend = open_backend(state_location or (spec.state if spec else None), stack=stack)
        except StateError as exc:
            raise _Fail(str(exc)) from None
    return session


@main.command()
@_state_options
@click.option("--json", "as_json", is_flag=True, help="Print as JSON (a saved plan: schemas/plan.schema.json).")
@click.argument("plan_file", required=False, metavar="[PLAN_FILE]")
def show(files: tuple[str, ...], state_location: str | None, stack: str | None, as_json: bool,
         plan_file: str | None) -> None:
    """Show what fwctl manages: remote ids, attachments, served snapshots; or a saved plan."""
    from reconciler.render import state_text

    if plan_file:
        import json

        from reconciler.planfile import PlanFileError, read_plan_file
        from reconciler.render import plan_json

        try:
            saved = read_plan_file(plan_file)
        except PlanFileError as exc:
            raise _Fail(str(exc)) from None
        if as_json:
            click.echo(json.dumps(plan_json(saved.plan), indent=2))
        else:
            _print_plan(saved.plan)
        return
    doc = _state_session(files, state_location, stack).read_state()
    if as_json:
        click.echo(doc.model_dump_json(indent=2) if doc else "{}")
    else:
        click.echo(state_text(doc))


@main.command()
@click.argument("name", required=False)
@_state_options
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def output(name: str | None, files: tuple[str, ...], state_location: str | None, stack: str | None,
           as_json: bool) -> None:
    """What a training loop needs: job ids, gateway URLs, inference models, attachments."""
    import json

    from reconciler.render import outputs_json

    data = outputs_json(_state_session(files, state_location, stack).read_state())
    if name:
        matches = {a: v for a, v in data.items() if a == name or a.split("/", 1)[-1] == name}
        if not matches:
            raise _Fail(f"no output named {name!r}; known: {', '.join(data) or 'none'}")
        data = matches
    if as_json:
        click.echo(json.dumps(data, indent=2, sort_keys=True))
        return
    for address, values in data.items():
        click.echo(address)
        for key, value in values.items():
            if value is not None:
                click.echo(f"  {key} = {value}")


@main.group()
def state() -> None:
    """Inspect or edit the state."""


@state.command("list")
@_state_options
def state_list(files: tuple[str, ...], state_location: str | None, stack: str | None) -> None:
    """One address per line."""
    doc = _state_session(files, state_location, stack).read_state()
    for address in doc.resources if doc else ():
        click.echo(address)


@state.command("show")
@click.argument("address", required=False)
@_state_options
@click.option("--version", "version", type=int, metavar="N", help="The document as written at serial N.")
def state_show(address: str | None, files: tuple[str, ...], state_location: str | None, stack: str | None,
               version: int | None) -> None:
    """One address as JSON; without ADDRESS, the whole document (at --version N if given)."""
    session = _state_session(files, state_location, stack)
    doc = _state_at_version(session, version) if version is not None else session.read_state()
    if address is None:
        if doc is None:
            raise _Fail(f"no state stored at {session.backend.describe()}")
        click.echo(doc.model_dump_json(indent=2))
        return
    res = doc.resources.get(address) if doc else None
    if res is None:
        at = f" at version {version}" if version is not None else ""
        raise _Fail(f"{address} is not in the state{at}")
    click.echo(res.model_dump_json(indent=2))


@state.command("rm")
@click.argument("address")
@_state_options
@click.option("--lock-timeout", default="0s", metavar="DURATION", envvar="FWCTL_LOCK_TIMEOUT")
def state_rm(address: str, files: tuple[str, ...], state_location: str | None, stack: str | None,
             lock_timeout: str) -> None:
    """Forget an address (the remote resource is left as it is)."""
    session = _state_session(files, state_location, stack)
    lock_id = session.lock("state rm", _seconds(lock_timeout))
    try:
        doc = session.read_state()
        if doc is None or address not in doc.resources:
            raise _Fail(f"{address} is not in the state")
        session.backend.write(doc.with_resource(address, None).next_version())
    finally:
        session.backend.unlock(lock_id)
    click.echo(f"Removed {address} from the state.")


@main.command("force-unlock")
@click.argument("lock_id")
@_state_options
def force_unlock(lock_id: str, files: tuple[str, ...], state_location: str | None, stack: str | None) -> None:
    """Release a state lock left by someone else (its id is printed to whoever waits)."""
    from reconciler.state import StateError

    session = _state_session(files, state_location, stack)
    try:
        session.backend.force_unlock(lock_id)
    except StateError as exc:
        raise _Fail(str(exc)) from None
    click.echo(f"Lock {lock_id} released.")




# --- state history / pull / push / migrate (issue 6) ---





def _state_call(fn: Any, *args: Any) -> Any:
    """Call a backend method, turning its ``StateError`` into a one-line failure."""
    from reconciler.state import StateError

    try:
        return fn(*args)
    except StateError as exc:
        raise _Fail(str(exc)) from None


def _history_of(backend: Any, what: str) -> Any:
    method = getattr(backend, what, None)
    if method is None:
        raise _Fail(f"the state at {backend.describe()} keeps no history (the PostgreSQL backend does)")
    return method


def _state_at_version(session: _Session, version: int) -> Any:
    doc = _state_call(_history_of(session.backend, "read_version"), version)
    if doc is None:
        raise _Fail(f"no version {version} of the state at {session.backend.describe()}; "
                    f"see `fwctl state history`")
    return doc


def _lock_state(backend: Any, operation: str, timeout: float) -> str:
    """Take ``backend``'s lock like ``_Session.lock`` does, for a backend other than the session's."""
    import getpass
    import os
    import socket

    from reconciler.model.state import LockInfo
    from reconciler.state import LockHeld, lock_with_timeout

    host = socket.gethostname()
    info = LockInfo(operation=operation, who=f"{getpass.getuser()}@{host}", host=host, pid=os.getpid(),
                    version=__version__, path=backend.describe())

    def waiting(holder: LockInfo) -> None:
        click.echo(f"Waiting for the state lock: {holder.describe()}", err=True)

    try:
        return str(_state_call(lock_with_timeout, backend, info, timeout, waiting))
    except LockHeld as exc:  # pragma: no cover - _state_call turns it into _Fail already
        raise _Fail(str(exc)) from None





@state.command("history")
@_state_options
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def state_history(files: tuple[str, ...], state_location: str | None, stack: str | None, as_json: bool) -> None:
    """Every version kept, oldest first (a local file keeps the current one and its backup)."""
    import json

    session = _state_session(files, state_location, stack)
    rows = _state_call(_history_of(session.backend, "history"))
    if as_json:
        click.echo(json.dumps([{"serial": s, "written_at": w.isoformat(), "lineage": lin} for s, w, lin in rows],
                              indent=2))
        return
    if not rows:
        click.echo(f"No state stored at {session.backend.describe()}.")
        return
    click.echo(f"{'SERIAL':>6}  {'WRITTEN AT':<25}  LINEAGE")
    for serial, written_at, lineage in rows:
        click.echo(f"{serial:>6}  {written_at.isoformat(timespec='seconds'):<25}  {lineage}")


@state.command("pull")
@_state_options
def state_pull(files: tuple[str, ...], state_location: str | None, stack: str | None) -> None:
    """Print the current state document as JSON (for `fwctl state push`)."""
    session = _state_session(files, state_location, stack)
    doc = session.read_state()
    if doc is None:
        raise _Fail(f"no state stored at {session.backend.describe()}")
    click.echo(doc.model_dump_json(indent=2))


@state.command("push")
@click.argument("file", type=click.File("r"))
@_state_options
@click.option("--force", is_flag=True, help="Write even over another lineage or a newer serial.")
@click.option("--lock-timeout", default="0s", metavar="DURATION", help="How long to wait for the state lock.")
def state_push(file: Any, files: tuple[str, ...], state_location: str | None, stack: str | None, force: bool,
               lock_timeout: str) -> None:
    """Replace the state with FILE ('-' for stdin): its lineage must match and its serial be newer."""
    from pydantic import ValidationError

    from reconciler.model.state import StateDocument

    try:
        doc = StateDocument.model_validate_json(file.read())
    except (ValidationError, ValueError) as exc:
        raise _Fail(f"{file.name}: not a valid fwctl state document ({str(exc).splitlines()[0]})") from None
    session = _state_session(files, state_location, stack)
    where = session.backend.describe()
    lock_id = session.lock("state push", _seconds(lock_timeout))
    try:
        current = session.read_state()
        write: Any = session.backend.write
        if current is not None and current.lineage != doc.lineage:
            if not force:
                raise _Fail(f"refusing to push {file.name}: its lineage {doc.lineage} is not the lineage "
                            f"{current.lineage} of the state at {where}; --force replaces it")
            write = getattr(session.backend, "overwrite", None)
            if write is None:
                raise _Fail(f"the state at {where} cannot be replaced by another lineage")
        if current is not None and doc.serial <= current.serial:
            if not force:
                raise _Fail(f"refusing to push {file.name}: its serial {doc.serial} is not newer than the "
                            f"state's serial {current.serial} at {where} (pull again, or --force)")
            doc = doc.model_copy(update={"serial": current.serial + 1})  # forced: the serial still rises
        _state_call(write, doc)
    finally:
        _state_call(session.backend.unlock, lock_id)
    click.echo(f"Pushed {file.name} to {where} as serial {doc.serial} (lineage {doc.lineage}).")


@state.command("migrate")
@_state_options
@click.option("--to", "target_url", required=True, metavar="PATH|URL", help="The backend to copy the state to.")
@click.option("--lock-timeout", default="0s", metavar="DURATION", help="How long to wait for each state lock.")
def state_migrate(files: tuple[str, ...], state_location: str | None, stack: str | None, target_url: str,
                  lock_timeout: str) -> None:
    """Copy the current state (and the versions kept of its lineage) to another backend."""
    from reconciler.state import StateError, open_backend

    session = _state_session(files, state_location, stack)
    try:
        target = open_backend(target_url, stack=session.stack)
    except StateError as exc:
        raise _Fail(str(exc)) from None
    source_at, target_at = session.backend.describe(), target.describe()
    if source_at == target_at:
        raise _Fail(f"--to names the state being migrated ({source_at})")
    timeout = _seconds(lock_timeout)
    source_lock = session.lock("state migrate", timeout)
    try:
        target_lock = _lock_state(target, "state migrate", timeout)
        try:
            doc = session.read_state()
            if doc is None:
                raise _Fail(f"no state stored at {source_at}: nothing to migrate")
            there = _state_call(target.read)
            if there is not None and there.lineage != doc.lineage:
                raise _Fail(f"refusing to migrate: {target_at} already holds a state of another lineage "
                            f"({there.lineage}, serial {there.serial}; this one is {doc.lineage})")
            if there is not None and there.serial >= doc.serial:
                if there.serial == doc.serial:
                    click.echo(f"{target_at} already holds serial {doc.serial}; nothing to copy.")
                    return
                raise _Fail(f"refusing to migrate: {target_at} is at serial {there.serial}, newer than "
                            f"serial {doc.serial} at {source_at}")
            floor = there.serial if there is not None else -1
            older = []
            source: Any = session.backend
            if hasattr(source, "history") and hasattr(source, "read_version"):
                for serial, _, lineage in _state_call(source.history):
                    if lineage == doc.lineage and floor < serial < doc.serial:
                        version = _state_call(source.read_version, serial)
                        if version is not None and version.lineage == doc.lineage:
                            older.append(version)
            for version in [*older, doc]:
                _state_call(target.write, version)
        finally:
            _state_call(target.unlock, target_lock)
    finally:
        _state_call(session.backend.unlock, source_lock)
    kept = f" with {len(older)} earlier version(s)" if older else ""
    click.echo(f"Copied serial {doc.serial} (lineage {doc.lineage}){kept} from {source_at} to {target_at}; "
               f"point --state / FWCTL_STATE at it.")


# --- status (issue 5) ---------------------------------------------------------------------------


@main.command()
@_files_option
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
    import asyncio
    import json

    from reconciler.provider.errors import ProviderError
    from reconciler.refresh import refresh
    from reconciler.status import classify, failing, probe_targets

    _setup_logging(verbose)
    session = _Session(files, endpoint, state_location)
    session.notice()
    budget = _seconds(probe_timeout)
    prior = session.read_state()
    resources = session.manifests.resources if session.manifests else {}

    async def run() -> Any:
        async with session.provider() as provider:
            try:
                observed = await refresh(provider, session.stack, resources, prior)
            except ProviderError as exc:
                raise _Fail(f"reading the account failed: {exc}") from None
            targets = probe_targets(session.stack, resources, prior, observed)
            probe = _status_probe(session, provider, budget)
            found = await asyncio.gather(*(probe(job_id, model) for job_id, model in sorted(targets.items())))
            probes = dict(zip(sorted(targets), found, strict=True))
            return classify(session.stack, resources, prior, observed, probes)

    results = asyncio.run(run())
    if as_json:
        click.echo(json.dumps({"stack": session.stack, "healthy": not failing(results),
                               "resources": [r.to_dict() for r in results]}, indent=2))
    else:
        width = max((len(r.address) for r in results), default=7)
        click.echo(f"{'ADDRESS':<{width}}  {'HEALTH':<11}  REASON")
        for r in results:
            click.echo(f"{r.address:<{width}}  {r.health.value:<11}  {r.reason}")
    if failing(results):
        sys.exit(EXIT_ERROR)


def _status_probe(session: _Session, provider: Any, budget: float) -> Any:
    """job id, base model -> None when the trainer passes its health probe, else the one-line reason."""
    from reconciler.health import HealthError, probe_trainer

    async def probe(job_id: str, base_model: str) -> str | None:
        if session.endpoint.embedded:  # the tinker client cannot reach the in-process app: healthz only
            return None if await provider.trainer_healthy(job_id) else "the gateway healthz does not answer"
        try:
            await probe_trainer(await provider.trainer_gateway_url(job_id), session.endpoint.api_key,
                                base_model=base_model, max_context_length=None, timeout_s=budget)
        except HealthError as exc:
            return str(exc)
        return None

    return probe


# --- import, orphans (issue 6) -------------------------------------------------------------------


@main.command("import")
@_files_option
@_engine_options
@click.argument("address")
@click.argument("remote_id")
def import_(files: tuple[str, ...], endpoint: str | None, state_location: str | None, lock_timeout: str,
            verbose: int, address: str, remote_id: str) -> None:
    """Record an existing trainer job or deployment under ADDRESS of the manifests.

    Differences between the manifest and the remote resource show up in the next plan.
    """
    import asyncio

    from reconciler.diff import deployment_view, trainer_view
    from reconciler.executor import initial_state
    from reconciler.model.ownership import DISPLAY_PREFIX, OWNER_ANNOTATION
    from reconciler.model.state import ResourceState
    from reconciler.provider.errors import ProviderError

    _setup_logging(verbose)
    session = _Session(files, endpoint, state_location)
    assert session.manifests is not None
    resource = session.manifests.resources.get(address)
    if resource is None:
        raise _Fail(f"{address} is not declared in the manifests; declare it first, then import")
    if resource.kind not in ("Trainer", "ReferenceTrainer", "Deployment"):
        raise _Fail(f"{address}: only trainers, reference trainers and deployments can be imported")
    session.notice()
    lock_id = session.lock("import", _seconds(lock_timeout))
    try:
        prior = session.read_state()
        if prior is not None and address in prior.resources:
            raise _Fail(f"{address} is already managed (remote id {prior.resources[address].remote_id}); "
                        f"'fwctl state rm {address}' first to re-import")
        if prior is not None:
            for other, res in prior.resources.items():
                if res.remote_id == remote_id and res.kind in ("Deployment",) == (resource.kind == "Deployment"):
                    raise _Fail(f"{remote_id} is already managed as {other}")

        async def fetch() -> Any:
            async with session.provider() as provider:
                account = await provider.account_id()
                if resource.kind == "Deployment":
                    return account, await provider.get_deployment(remote_id)
                return account, await provider.get_trainer_job(remote_id)

        try:
            account, remote = asyncio.run(fetch())
        except ProviderError as exc:
            raise _Fail(f"reading {remote_id} failed: {exc}") from None
        spec = resource.spec
        if remote is None:
            raise _Fail(f"{address}: no {'deployment' if resource.kind == 'Deployment' else 'trainer job'} "
                        f"{remote_id} in account {account}")
        if resource.kind == "Deployment":
            owner = remote.config.annotations.get(OWNER_ANNOTATION)
            view = deployment_view(remote.config)
        else:
            display = remote.config.display_name or ""
            owner = display[len(DISPLAY_PREFIX):].split("/")[0] if display.startswith(DISPLAY_PREFIX) else None
            view = trainer_view(remote.config)
            if remote.gone:
                raise _Fail(f"{address}: trainer job {remote_id} is {remote.state} and cannot be imported")
        if owner and owner != session.stack:
            raise _Fail(f"{remote_id} is managed by stack {owner!r}, not {session.stack!r}; refusing to import it")
        declared_model = getattr(spec, "base_model", None)
        if declared_model and remote.config.base_model != declared_model:
            raise _Fail(f"{address}: {remote_id} serves {remote.config.base_model}, the manifest declares "
                        f"{declared_model}; refusing to import a different model")
        doc = prior or initial_state(session.stack, None, session.endpoint.url, account, __version__)
        lifecycle = spec.lifecycle.model_dump(by_alias=True, mode="json") if hasattr(spec, "lifecycle") else {}
        record = ResourceState(kind=resource.kind, name=address.split("/", 1)[1], remote_id=remote_id,
                               remote_name=remote.name, applied=view, lifecycle=lifecycle,
                               labels=dict(resource.metadata.labels),
                               outputs={"state": remote.state, "imported": True})
        session.backend.write(doc.with_resource(address, record).next_version())
    finally:
        session.backend.unlock(lock_id)
    click.echo(f"Imported {remote_id} as {address}. Run 'fwctl plan' to see how it differs from the manifest.")


@main.command()
@_files_option
@_engine_options
@click.option("--delete", "delete_them", is_flag=True, help="Delete the orphans (after confirmation).")
@click.option("--auto-approve", is_flag=True, help="Do not ask before deleting.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def orphans(files: tuple[str, ...], endpoint: str | None, state_location: str | None, lock_timeout: str,
            verbose: int, delete_them: bool, auto_approve: bool, as_json: bool) -> None:
    """List trainers and deployments fwctl created for this stack that no state references."""
    import asyncio
    import json

    from reconciler.orphans import find_orphans
    from reconciler.provider.errors import ProviderError

    _setup_logging(verbose)
    session = _Session(files, endpoint, state_location)
    session.notice()
    prior = session.read_state()

    async def listing() -> Any:
        async with session.provider() as provider:
            return await asyncio.gather(provider.list_trainer_jobs(), provider.list_deployments())

    try:
        trainers, deployments = asyncio.run(listing())
    except ProviderError as exc:
        raise _Fail(f"listing the account failed: {exc}") from None
    found = find_orphans(session.stack, prior, trainers, deployments)
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
    _confirm(auto_approve, f"deletion of {len(found)} orphans")

    async def delete() -> None:
        async with session.provider() as provider:
            await asyncio.gather(*(
                provider.delete_trainer_job(o.remote_id) if o.kind == "trainer"
                else provider.delete_deployment(o.remote_id) for o in found))

    try:
        asyncio.run(delete())
    except ProviderError as exc:
        raise _Fail(f"deleting orphans failed: {exc}") from None
    click.echo(f"Deleted {len(found)} orphans.")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
