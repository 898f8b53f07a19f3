"""convert cookbook: another tool's config -> fwctl manifests."""

from __future__ import annotations

import click


@click.group()
def convert() -> None:
    """Turn another tool's configuration into fwctl manifests."""


@convert.command("cookbook")
@click.argument("file", metavar="FILE")
@click.option("--recipe", metavar="NAME", help="The recipe of FILE to convert (default: its only one).")
@click.option("--out", "out_dir", metavar="DIR", help="Where to write the manifests (default: ./<stack>).")
@click.option("--stack", metavar="NAME", help="The Stack's name (default: from FILE and the recipe).")
@click.option("--force", is_flag=True, help="Overwrite manifests already in DIR.")
@click.option("--endpoint", metavar="URL|local",
              help="Where to read the deployment shape a training shape links to (deployment_shape: null).")
def cookbook(file: str, recipe: str | None, out_dir: str | None, stack: str | None, force: bool,
             endpoint: str | None) -> None:
    """Convert a fw-ai/cookbook provisioning config (training/provision/*.yaml) into fwctl manifests.

    \b
    The recipe's mode (its mode: key, else its name: sft, rl/rft, dpo, distillation, <mode>_*)
    decides what is declared, as the cookbook's provision.py provisions it:
      sft           the policy Trainer
      rl / rft      Trainer, rollout Deployment, SyncBinding; a ReferenceTrainer when kl_beta > 0
      dpo           Trainer and ReferenceTrainer
      distillation  Trainer, rollout Deployment, SyncBinding (the teacher is a served model)
    job_id / deployment_id set: the manifest adopts that job or deployment. null (let the platform
    choose) is left out; deployment_shape: null becomes the shape the training shape links to.
    Files are written whole or not at all; manifests already in DIR are kept unless --force.
    """
    from reconciler import operations

    done = operations.convert_cookbook_file(file, recipe=recipe, out_dir=out_dir, stack=stack, force=force,
                                            endpoint=endpoint)
    result = done.converted
    click.echo(f"Converted recipe {result.recipe!r} (mode {result.mode}) of {file} into stack {result.stack}:")
    for line in result.mapped:
        click.echo(f"  {line}")
    for path in done.written:
        click.echo(f"Wrote {path}")
    if result.left_to_script:
        click.echo("Left to the training script (not infrastructure):")
        for line in result.left_to_script:
            click.echo(f"  {line}")
    for step in result.next_steps:
        click.echo(f"Next: {step.replace('DIR', done.out_dir)}")
    click.echo(f"Next: fwctl plan -f {done.out_dir}")
