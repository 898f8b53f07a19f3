"""show, output, state list/show/rm/history/pull/push/migrate, force-unlock."""

from __future__ import annotations

from typing import Any

import click

from reconciler.cli._common import chosen_format, format_options, listener, print_plan, seconds, state_options
from reconciler.cli._errors import Fail


@click.command()
@state_options
@format_options("text", "json")
@click.argument("plan_file", required=False, metavar="[PLAN_FILE]")
def show(files: tuple[str, ...], state_location: str | None, stack: str | None, output_format: str | None,
         as_json: bool, plan_file: str | None) -> None:
    """Show what fwctl manages: remote ids, attachments, served snapshots; or a saved plan.

    JSON: the state document, or a saved plan in the plan format (schemas/plan.schema.json).
    """
    from reconciler import operations
    from reconciler.render import state_text

    as_json = chosen_format(output_format, as_json) == "json"

    if plan_file:
        import json

        from reconciler.render import plan_json

        saved = operations.read_saved_plan(plan_file)
        if as_json:
            click.echo(json.dumps(plan_json(saved), indent=2))
        else:
            print_plan(saved)
        return
    doc = operations.open_state_session(files, state_location, stack).read_state()
    if as_json:
        click.echo(doc.model_dump_json(indent=2) if doc else "{}")
    else:
        click.echo(state_text(doc))


@click.command()
@click.argument("name", required=False)
@state_options
@format_options("text", "json", "env")
def output(name: str | None, files: tuple[str, ...], state_location: str | None, stack: str | None,
           output_format: str | None, as_json: bool) -> None:
    """What a training loop needs: job ids, gateway URLs, inference models, attachments.

    \b
    JSON: one object per address (job_id, job_name, gateway_url, deployment_id, inference_model,
    attached_trainer, snapshot, ...), and the keyword arguments that reconnect a script to the
    trainer NAME picks (default: the trainer of the stack's binding, or its only trainer):
      sdk             FiretitanServiceClient.from_firetitan_config(**sdk): base_url, base_model,
                      lora_rank, training_shape_id, max_context_length, learning_rate,
                      trainer_job_id, reference_required, reference_trainer_job_id,
                      reference_training_shape_id, deployment_id, deployment_shape,
                      hot_load_transition_type, create_deployment (false: nothing serves it)
      trainer_config  the cookbook's TrainerConfig(**...): job_id, training_shape_id,
                      reference_job_id, reference_training_shape_id
      deploy_config   the cookbook's DeployConfig(**...): deployment_id, deployment_shape,
                      weight_sync_scope (per_trainer | per_deployment), hot_load_bucket_type,
                      hot_load_trainer_job; null when no deployment serves the trainer
    A key is left out when the platform chooses it; never an API key (the SDK reads
    FIREWORKS_API_KEY). --format env: the sdk keys as `export FWCTL_<KEY>=...` lines, quoted for
    the shell, and FIREWORKS_BASE_URL (eval "$(fwctl output --format env)").

    Exit status 1 when there is no state yet.
    """
    import json

    from reconciler import operations

    fmt = chosen_format(output_format, as_json)
    data = operations.outputs(operations.open_state_session(files, state_location, stack), name)
    if fmt == "json":
        click.echo(json.dumps(data, indent=2, sort_keys=True))
        return
    if fmt == "env":
        from reconciler.render import outputs_env

        click.echo(outputs_env(data.get("sdk") or {}), nl=False)
        return
    for address, values in data.items():
        if not isinstance(values, dict):  # deploy_config: null
            continue
        click.echo(address)
        for key, value in values.items():
            if value is not None:
                click.echo(f"  {key} = {value}")


@click.group()
def state() -> None:
    """Inspect or edit the state."""


@state.command("list")
@state_options
def state_list(files: tuple[str, ...], state_location: str | None, stack: str | None) -> None:
    """One address per line."""
    from reconciler import operations

    doc = operations.open_state_session(files, state_location, stack).read_state()
    for address in doc.resources if doc else ():
        click.echo(address)


@state.command("show")
@click.argument("address", required=False)
@state_options
@click.option("--version", "version", type=int, metavar="N", help="The document as written at serial N.")
def state_show(address: str | None, files: tuple[str, ...], state_location: str | None, stack: str | None,
               version: int | None) -> None:
    """One address as JSON; without ADDRESS, the whole document (at --version N if given)."""
    from reconciler import operations

    session = operations.open_state_session(files, state_location, stack)
    if address is None:
        doc = operations.current_state(session) if version is None else operations.state_version(session, version)
        click.echo(doc.model_dump_json(indent=2))
        return
    found = session.read_state() if version is None else operations.state_version(session, version)
    res = found.resources.get(address) if found else None
    if res is None:
        at = f" at version {version}" if version is not None else ""
        raise Fail(f"{address} is not in the state{at}")
    click.echo(res.model_dump_json(indent=2))


@state.command("rm")
@click.argument("address")
@state_options
@click.option("--lock-timeout", default="0s", metavar="DURATION", envvar="FWCTL_LOCK_TIMEOUT")
def state_rm(address: str, files: tuple[str, ...], state_location: str | None, stack: str | None,
             lock_timeout: str) -> None:
    """Forget an address (the remote resource is left as it is)."""
    from reconciler import operations

    session = operations.open_state_session(files, state_location, stack)
    operations.remove_address(session, address, lock_timeout_s=seconds(lock_timeout), listener=listener())
    click.echo(f"Removed {address} from the state.")


@click.command("force-unlock")
@click.argument("lock_id")
@state_options
def force_unlock(lock_id: str, files: tuple[str, ...], state_location: str | None, stack: str | None) -> None:
    """Release a state lock left by someone else (its id is printed to whoever waits)."""
    from reconciler import operations

    operations.force_unlock(operations.open_state_session(files, state_location, stack), lock_id)
    click.echo(f"Lock {lock_id} released.")


@state.command("history")
@state_options
@format_options("text", "json")
def state_history(files: tuple[str, ...], state_location: str | None, stack: str | None,
                  output_format: str | None, as_json: bool) -> None:
    """Every version kept, oldest first (a local file keeps the current one and its backup)."""
    import json

    from reconciler import operations

    as_json = chosen_format(output_format, as_json) == "json"

    session = operations.open_state_session(files, state_location, stack)
    rows = operations.state_history(session)
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
@state_options
def state_pull(files: tuple[str, ...], state_location: str | None, stack: str | None) -> None:
    """Print the current state document as JSON (for `fwctl state push`)."""
    from reconciler import operations

    doc = operations.current_state(operations.open_state_session(files, state_location, stack))
    click.echo(doc.model_dump_json(indent=2))


@state.command("push")
@click.argument("file", type=click.File("r"))
@state_options
@click.option("--force", is_flag=True, help="Write even over another lineage or a newer serial.")
@click.option("--lock-timeout", default="0s", metavar="DURATION", help="How long to wait for the state lock.")
def state_push(file: Any, files: tuple[str, ...], state_location: str | None, stack: str | None, force: bool,
               lock_timeout: str) -> None:
    """Replace the state with FILE ('-' for stdin): its lineage must match and its serial be newer."""
    from reconciler import operations

    doc = operations.parse_state_document(file.read(), file.name)
    session = operations.open_state_session(files, state_location, stack)
    pushed = operations.push_state(session, doc, name=file.name, force=force, lock_timeout_s=seconds(lock_timeout),
                                   listener=listener())
    click.echo(f"Pushed {file.name} to {session.backend.describe()} as serial {pushed.serial} "
               f"(lineage {pushed.lineage}).")


@state.command("migrate")
@state_options
@click.option("--to", "target_url", required=True, metavar="PATH|URL", help="The backend to copy the state to.")
@click.option("--lock-timeout", default="0s", metavar="DURATION", help="How long to wait for each state lock.")
def state_migrate(files: tuple[str, ...], state_location: str | None, stack: str | None, target_url: str,
                  lock_timeout: str) -> None:
    """Copy the current state (and the versions kept of its lineage) to another backend."""
    from reconciler import operations
    from reconciler.render import plural

    session = operations.open_state_session(files, state_location, stack)
    done = operations.migrate_state(session, target_url, lock_timeout_s=seconds(lock_timeout), listener=listener())
    if not done.copied:
        click.echo(f"{done.target} already holds serial {done.doc.serial}; nothing to copy.")
        return
    kept = f" with {plural(done.earlier, 'earlier version')}" if done.earlier else ""
    click.echo(f"Copied serial {done.doc.serial} (lineage {done.doc.lineage}){kept} from {done.source} to "
               f"{done.target}; point --state / FWCTL_STATE at it.")
