"""The catalog: models, training shapes, deployment shapes, regions and accelerator prices.

The packaged ``catalog.json`` is the default; ``fwctl local serve --catalog FILE`` replaces it with
another JSON file of the same layout:

- ``accelerators``: the accepted accelerator types. Their prices (reported by ``/_local/v1/catalog``)
  come from fwctl's one price table (``reconciler/model/prices.json``), never from here.
- ``regions``: the platform's 36 region names (the SDK's region enum); the first is the default.
- ``models``: ``name``, ``displayName``, ``maxContextLength`` and ``baseModelDetails`` (``modelType``,
  ``parameterCount``, ``moe``, ``supportsFireattention``, ...) of each base model.
- ``trainingShapes`` / ``deploymentShapes``: ``name``, ``displayName``, ``baseModel`` (training
  shapes also ``trainerMode``) and ``versions``, listed oldest first; the last one with
  ``"validated": true`` is the latest validated. A version's other fields (accelerators, node
  count, context length, precision, serving ``engine``, ...) are its snapshot. Names and version ids
  are the platform's (docs "Training Shapes": ``qwen3-8b-128k`` version ``vnuk8fdq`` on 4 x B200 links
  ``rft-qwen3-8b/versions/gyiqbrd6``); version ids are opaque 8-character strings, never ``v1``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from typing import Any


@dataclass(frozen=True)
class ShapeVersion:
    shape: str  # parent name accounts/x/trainingShapes/s
    version_id: str
    create_time: str
    validated: bool
    fields: dict[str, Any]

    @property
    def name(self) -> str:
        return f"{self.shape}/versions/{self.version_id}"


@dataclass(frozen=True)
class Shape:
    name: str
    display_name: str
    base_model: str
    trainer_mode: str  # "" for deployment shapes
    versions: tuple[ShapeVersion, ...]
    #: account access (issue 13): ``enabledForAccount`` / ``enabledAccounts`` (see ``_platform_rules``)
    access: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    def latest_validated(self) -> ShapeVersion | None:
        validated = [v for v in self.versions if v.validated]
        return validated[-1] if validated else None

    def version(self, version_id: str) -> ShapeVersion | None:
        if version_id == "latest":
            return self.latest_validated()
        return next((v for v in self.versions if v.version_id == version_id), None)


@dataclass(frozen=True)
class Catalog:
    regions: tuple[str, ...]
    accelerator_prices: dict[str, float]
    models: dict[str, dict[str, Any]]
    training_shapes: dict[str, Shape] = field(default_factory=dict)
    deployment_shapes: dict[str, Shape] = field(default_factory=dict)

    def resolve(self, shapes: dict[str, Shape], ref: str) -> tuple[Shape, ShapeVersion | None] | None:
        """Shape and version for a parent or versioned name; the version is the latest validated
        one for a parent name (None if there is none). None when the shape is unknown."""
        parent, _, version_id = ref.partition("/versions/")
        shape = shapes.get(parent)
        if shape is None:
            return None
        if not version_id:
            return shape, shape.latest_validated()
        version = shape.version(version_id)
        return (shape, version) if version is not None else None


def _shapes(raw: list[dict[str, Any]], *, training: bool) -> dict[str, Shape]:
    out: dict[str, Shape] = {}
    for item in raw or []:
        name = str(item["name"])
        versions = tuple(
            ShapeVersion(
                shape=name,
                version_id=str(v["id"]),
                create_time=str(v.get("createTime", "2025-01-01T00:00:00Z")),
                validated=bool(v.get("validated", False)),
                fields={k: val for k, val in v.items() if k not in {"id", "createTime", "validated"}},
            )
            for v in item.get("versions", [])
        )
        out[name] = Shape(
            name=name,
            display_name=str(item.get("displayName", name.rsplit("/", 1)[-1])),
            base_model=str(item["baseModel"]),
            trainer_mode=str(item.get("trainerMode", "POLICY_TRAINER")) if training else "",
            versions=versions,
            access={k: item[k] for k in ("enabledForAccount", "enabledAccounts") if k in item},
        )
    return out


def load_catalog(path: str | None = None) -> Catalog:
    """Read the catalog JSON: the packaged one, or ``path``."""
    if path is None:
        text = resources.files("reconciler.local").joinpath("catalog.json").read_text(encoding="utf-8")
    else:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    raw = json.loads(text) or {}
    from reconciler.model.prices import packaged_prices  # the one price table (issue 15)

    table = packaged_prices()
    prices = {str(k): float(table.rate(str(k)) or 0.0) for k in (raw.get("accelerators") or {})}
    return Catalog(
        regions=tuple(str(r) for r in raw.get("regions", [])),
        accelerator_prices=prices,
        models={str(m["name"]): dict(m) for m in raw.get("models", [])},
        training_shapes=_shapes(raw.get("trainingShapes", []), training=True),
        deployment_shapes=_shapes(raw.get("deploymentShapes", []), training=False),
    )
