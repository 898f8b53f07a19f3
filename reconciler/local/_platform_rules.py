"""Rules the platform enforces at create time that are not about one field's type (issue 13 point 3).

Sources: the fireworks-ai training SDK and the Fireworks cookbook (``skills/fireworks-training/references/
error-reference.md`` and ``rl-hotload.md``).

- **forTraining on training-pinned shapes.** "The Training API SDK marks cookbook-created serving
  deployments as training deployments, which is required for deployment shape versions pinned by
  training shapes" (rl-hotload); the SDK's managed path sends ``forTraining: true``
  (``managed.py``). A deployment shape version is *pinned* when a training shape version names it
  as its ``deploymentShapeVersion``. The platform's wording is not published: the message is ours,
  the status (400 INVALID_ARGUMENT) the one the SDK's 400 hint covers.
- **Elevated keys.** ``skipValidations`` (the manual trainer path, explicit accelerators) "requires
  a superuser API key" (``trainer.py``); "sends skipValidations=true, which the server rejects with
  400 for non-superuser (customer) API keys" (``managed.py``). So a customer key gets 400
  INVALID_ARGUMENT (the wording is an assumption), an admin key (``LocalConfig.admin_keys``) passes.
- **Context lengths.** "Context length rejected (``must be divisible by 16``)" (error reference).
- **Shapes not enabled for the account.** "412 / shape unavailable: the requested training shape
  isn't enabled on your account" (error reference): HTTP 412 FAILED_PRECONDITION. A catalog shape
  carries ``"enabledForAccount": false`` (enabled for none) or ``"enabledAccounts": [...]`` (an
  allow-list); the public shape answers do not show it (the platform's do not either), so a client
  learns it at create time only.
- **Weight-sync scope.** PER_TRAINER (the deployment names ``hotLoadTrainerJob``) and
  PER_DEPLOYMENT (the trainer names ``hotLoadDeploymentId``) are "mutually exclusive for the same
  trainer ↔ deployment pair"; the server rejects a mix "at CreateDeployment / CreateRlorTrainerJob
  time" with the rl-hotload page's messages, used verbatim here.
"""

from __future__ import annotations

from typing import Any

from reconciler.local._catalog import Catalog, Shape
from reconciler.local._errors import ApiError, invalid

CONTEXT_MULTIPLE = 16


def pinned_deployment_versions(catalog: Catalog) -> set[str]:
    """The deployment shape versions some training shape version pins (``deploymentShapeVersion``)."""
    return {
        str(v.fields["deploymentShapeVersion"])
        for shape in catalog.training_shapes.values()
        for v in shape.versions
        if v.fields.get("deploymentShapeVersion")
    }


def check_for_training(catalog: Catalog, version_name: str, for_training: bool) -> None:
    if for_training or version_name not in pinned_deployment_versions(catalog):
        return
    raise invalid(
        f"deployment shape version {version_name} is pinned by a training shape: a deployment on it is "
        "training infrastructure and needs forTraining: true"
    )


def check_elevated(elevated: bool) -> None:
    if not elevated:
        raise invalid(
            "skipValidations=true requires a superuser API key; launch on a validated training shape "
            "(pass trainingShape, or omit the accelerator fields to let the platform select one)"
        )


def check_context_length(value: Any, where: str) -> None:
    if value is not None and int(value) % CONTEXT_MULTIPLE:
        rounded = int(value) // CONTEXT_MULTIPLE * CONTEXT_MULTIPLE
        raise invalid(f"{where} {int(value)} must be divisible by {CONTEXT_MULTIPLE} (e.g. {rounded})")


def enabled_for(shape: Shape, account: str) -> bool:
    """Is a catalog shape enabled for ``account``?"""
    if shape.access.get("enabledForAccount") is False:
        return False
    allowed = shape.access.get("enabledAccounts")
    return allowed is None or account in allowed


def check_enabled(shape: Shape, account: str) -> None:
    if not enabled_for(shape, account):
        raise ApiError(
            412,
            f"training shape {shape.name} is not enabled for account {account}: pick a listed shape or "
            "request enablement",
            precondition=True,
        )


def deployment_first_trainer(trainer: dict[str, Any], trainer_name: str, dep: str) -> None:
    """A PER_DEPLOYMENT trainer keyed to another deployment cannot be a PER_TRAINER source."""
    keyed = str(trainer.get("hotLoadDeploymentId") or "")
    if keyed and keyed != dep:
        raise invalid(
            f"hotload flow mismatch: trainer {trainer_name} is deployment-first-keyed for deployment {keyed}, "
            f"but you're trying to use it as the source for deployment {dep}"
        )


def trainer_first_deployment(dep: str, dep_doc: dict[str, Any]) -> None:
    """A PER_DEPLOYMENT trainer cannot feed a deployment that is PER_TRAINER."""
    if dep_doc.get("hotLoadTrainerJob"):
        raise invalid(
            f"hotload flow mismatch: trainer wants deployment-first (hot_load_deployment_id={dep}) but deployment "
            f"{dep} is trainer-first (hot_load_trainer_job={dep_doc['hotLoadTrainerJob']})"
        )
