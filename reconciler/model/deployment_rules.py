"""A Deployment's shape rules: what the platform refuses (errors) and what it allows but fwctl warns
about (issue 13 point 4).

Sources: the fireworks-ai SDK's generated ``DeploymentCreateParams`` and the training SDK's
``DeploymentConfig``:

- ``deploymentShape`` "On create, may also be ``"default"``: the server picks a default validated
  shape version for the base model" (and answers with that version's name).
- ``acceptShapelessRisk`` is "Currently accepted but not enforced": the platform creates a shapeless
  deployment (an ``acceleratorType`` and no shape) without it. Shapeless deployments "skip
  pre-validated configurations and are much more likely to fail at creation", so fwctl keeps its
  own rule as a plan-time *warning* that the flag acknowledges (and silences).
- The flag is "Mutually exclusive with ``deployment_shape`` (the server rejects the combination)",
  and the shapeless path needs an ``acceleratorType`` ("server has no default"): both are errors.
"""

from __future__ import annotations

from typing import Final

#: The documented ``deploymentShape`` value that lets the platform choose the base model's shape.
DEFAULT_SHAPE: Final = "default"

SHAPELESS_WARNING: Final = (
    "an accelerator without a deploymentShape creates a shapeless deployment, which skips the platform's "
    "validated configurations and is much more likely to fail at creation; use a deploymentShape (or "
    "deploymentShape: default), or set acceptShapelessRisk: true to acknowledge the risk"
)


def is_default_shape(name: object) -> bool:
    """``deploymentShape: default``: the platform picks the shape (its answer names a version)."""
    return name == DEFAULT_SHAPE


def shape_rules(deployment_shape: str | None, has_accelerator: bool,
                accept_shapeless_risk: bool) -> list[tuple[str, str]]:
    """The errors: (field relative to the spec, message)."""
    if deployment_shape is not None and has_accelerator:
        return [("accelerator", "cannot be combined with deploymentShape; use one or the other")]
    if deployment_shape is not None and accept_shapeless_risk:
        return [("acceptShapelessRisk", "cannot be combined with deploymentShape (the platform refuses the "
                 "combination); remove acceptShapelessRisk or deploymentShape")]
    if deployment_shape is None and not has_accelerator:
        return [("deploymentShape", "a Deployment needs a deploymentShape (a shape name, or default), "
                 "or an accelerator")]
    return []


def shape_warnings(deployment_shape: str | None, has_accelerator: bool,
                   accept_shapeless_risk: bool) -> list[tuple[str, str]]:
    """The risky choices the platform allows: (field relative to the spec, message)."""
    if deployment_shape is None and has_accelerator and not accept_shapeless_risk:
        return [("accelerator", SHAPELESS_WARNING)]
    return []
