"""Training shapes and deployment shapes: read-only views of the catalog."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from reconciler.local._catalog import Catalog, Shape, ShapeVersion
from reconciler.local._errors import invalid, not_found, precondition
from reconciler.local._validate import paginate, parse_filter

# collection -> (the field that names a shape in a create, what it is called in messages)
_NAMED_BY = {"trainingShapes": ("trainingShape", "training shape"),
             "deploymentShapes": ("deploymentShape", "deployment shape")}


def shape_for_create(catalog: Catalog, collection: str, ref: str, *, skip_validation: bool,
                     unvalidated_hint: str = "") -> tuple[Shape, ShapeVersion]:
    """The shape and version a create names: the pinned version, or the latest validated one of a
    parent name. An unknown shape is invalid; no validated version (unless skipped) fails a precondition."""
    field, noun = _NAMED_BY[collection]
    if not re.match(rf"^accounts/[^/]+/{collection}/[^/]+(/versions/[^/]+)?$", ref):
        raise invalid(f"{field} {ref!r} is not accounts/<a>/{collection}/<s>[/versions/<v>]")
    shapes = catalog.training_shapes if collection == "trainingShapes" else catalog.deployment_shapes
    resolved = catalog.resolve(shapes, ref)
    if resolved is None:
        raise invalid(f"{noun} {ref} not found")
    shape, version = resolved
    if version is None:
        raise precondition(f"{noun} {ref} has no validated version")
    if not version.validated and not skip_validation:
        raise precondition(f"{noun} version {version.name} is not validated{unvalidated_hint}")
    return shape, version


def _version_json(version: ShapeVersion, shape: Shape, training: bool) -> dict[str, Any]:
    latest = shape.latest_validated()
    snapshot = dict(version.fields)
    snapshot["baseModel"] = shape.base_model
    if training:
        snapshot["trainerMode"] = shape.trainer_mode
    return {
        "name": version.name,
        "createTime": version.create_time,
        "validated": version.validated,
        "latestValidated": latest is not None and latest.version_id == version.version_id,
        "public": True,
        "baseModel": shape.base_model,
        "snapshot": snapshot,
    }


class Shapes:
    """``trainingShapes`` and ``deploymentShapes``: ``kind`` is the collection name in the path."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def _shapes(self, kind: str) -> tuple[dict[str, Shape], bool, str]:
        if kind == "trainingShapes":
            return self.catalog.training_shapes, True, "trainingShapeVersions"
        return self.catalog.deployment_shapes, False, "deploymentShapeVersions"

    def _shape(self, kind: str, account: str, shape_id: str) -> Shape:
        shapes, _, _ = self._shapes(kind)
        name = f"accounts/{account}/{kind}/{shape_id}"
        shape = shapes.get(name)
        if shape is None:
            raise not_found(f"{kind[:-1]} {name} not found")
        return shape

    def get_shape(self, kind: str, account: str, shape_id: str) -> dict[str, Any]:
        shape = self._shape(kind, account, shape_id)
        latest = shape.latest_validated()
        out: dict[str, Any] = {
            "name": shape.name,
            "displayName": shape.display_name,
            "baseModel": shape.base_model,
            "latestValidatedVersion": latest.name if latest else "",
        }
        if kind == "trainingShapes":
            out["trainerMode"] = shape.trainer_mode
        return out

    def list_shapes(self, kind: str, account: str, query: Mapping[str, str]) -> dict[str, Any]:
        shapes, _, _ = self._shapes(kind)
        names = [s.split("/")[-1] for s in shapes if s.startswith(f"accounts/{account}/{kind}/")]
        items = [self.get_shape(kind, account, n) for n in names]
        page, token = paginate(items, query.get("pageSize"), query.get("pageToken"))
        return {kind: page, "nextPageToken": token, "totalSize": len(items)}

    def list_shape_versions(
        self, kind: str, account: str, shape_id: str, query: Mapping[str, str]
    ) -> dict[str, Any]:
        shape = self._shape(kind, account, shape_id)
        _, training, key = self._shapes(kind)
        wanted = parse_filter(
            query.get("filter"), {"latest_validated": "latestValidated", "validated": "validated"}
        )
        rows = [_version_json(v, shape, training) for v in reversed(shape.versions)]  # newest first
        for field, value in wanted.items():
            if value not in ("true", "false"):
                raise invalid(f"Unsupported filter value {value!r}: use true or false")
            rows = [r for r in rows if r[field] == (value == "true")]
        page, token = paginate(rows, query.get("pageSize"), query.get("pageToken"))
        return {key: page, "nextPageToken": token, "totalSize": len(rows)}

    def get_shape_version(self, kind: str, account: str, shape_id: str, version_id: str) -> dict[str, Any]:
        shape = self._shape(kind, account, shape_id)
        _, training, _ = self._shapes(kind)
        version = shape.version(version_id)
        if version is None:
            raise not_found(f"version {version_id!r} of {shape.name} not found")
        return _version_json(version, shape, training)
