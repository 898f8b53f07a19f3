"""Normalisation and field diffs, per kind.

A declared resource and an observed one are each turned into a flat mapping keyed by the
manifest's own field paths (``replicas.max``, ``trainingShape``). What is compared follows the
platform's rules: a field left unset in the manifest is the platform's to choose and is not
compared; a parent shape matches any of its versions; ``ignoreChanges`` paths are dropped.
deepdiff computes the differences; this module decides which of them force replacement.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from deepdiff import DeepDiff

from reconciler.model.plan import FieldDiff
from reconciler.model.remote import DeploymentConfig, TrainerConfig, shape_of

# Config field -> manifest path. Every trainer field forces replacement: jobs cannot be edited.
TRAINER_PATHS: dict[str, str] = {
    "base_model": "baseModel",
    "lora_rank": "loraRank",
    "learning_rate": "learningRate",
    "training_shape": "trainingShape",
    "accelerator_type": "accelerator.type",
    "accelerator_count": "accelerator.count",
    "node_count": "nodeCount",
    "max_context_length": "maxContextLength",
    "replica_count": "replicaCount",
    "region": "region",
    "display_name": "displayName",
    "inactivity_timeout": "inactivityTimeout",
    "forward_only": "forwardOnly",
    "hot_load_deployment_id": "hotLoadDeploymentId",
}

DEPLOYMENT_PATHS: dict[str, str] = {
    "base_model": "baseModel",
    "deployment_shape": "deploymentShape",
    "accelerator_type": "accelerator.type",
    "accelerator_count": "accelerator.count",
    "min_replicas": "replicas.min",
    "max_replicas": "replicas.max",
    "region": "region",
    "hot_load_enabled": "hotLoad.enabled",
    "hot_load_bucket_type": "hotLoad.bucketType",
    "hot_load_transition": "hotLoad.transition",
    "description": "description",
    "annotations": "annotations",
}
DEPLOYMENT_IN_PLACE = frozenset({"replicas.min", "replicas.max", "hotLoad.transition", "description", "annotations"})

# Not compared for a deployment (absent from DEPLOYMENT_PATHS): the attachment, which the binding owns
# (with the transition type when bound), and acceptShapelessRisk, a create-time flag.


def trainer_view(config: TrainerConfig) -> dict[str, Any]:
    """A trainer config keyed by manifest path (for display and comparison)."""
    data = config.model_dump()
    return {path: data[field] for field, path in TRAINER_PATHS.items()}


def deployment_view(config: DeploymentConfig, *, bound: bool = False) -> dict[str, Any]:
    data = config.model_dump()
    view = {path: data[field] for field, path in DEPLOYMENT_PATHS.items()}
    if bound:  # the SyncBinding reconciles the transition type together with the attachment
        view.pop("hotLoad.transition")
    return view


def _comparable(
    desired: Mapping[str, Any], observed: Mapping[str, Any], ignore: Iterable[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Drop what is not compared: unset in the manifest (platform's choice) or ignored."""
    ignored = tuple(ignore)
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for path, want in desired.items():
        if want is None or any(path == p or path.startswith(p + ".") for p in ignored):
            continue
        have = observed.get(path)
        if path in ("trainingShape", "deploymentShape") and "/versions/" not in str(want):
            have = shape_of(have)  # a newer version of the declared shape is not a change
        before[path] = have
        after[path] = want
    return before, after


def field_diffs(
    desired: Mapping[str, Any],
    observed: Mapping[str, Any],
    *,
    ignore: Iterable[str] = (),
    in_place: frozenset[str] = frozenset(),
) -> tuple[FieldDiff, ...]:
    """The differences between a desired and an observed view, in manifest order.

    A path not in ``in_place`` forces replacement.
    """
    before, after = _comparable(desired, observed, ignore)
    diff = DeepDiff(before, after, view="tree", ignore_numeric_type_changes=True)
    changed: list[str] = []
    for level in diff.tree.values():
        for item in level:
            path = item.path(output_format="list")
            if path and path[0] not in changed:
                changed.append(str(path[0]))
    order = list(after)
    return tuple(
        FieldDiff(
            path=path,
            before=before.get(path),
            after=after.get(path),
            forces_replacement=path not in in_place,
        )
        for path in sorted(changed, key=order.index)
    )
