"""Training shapes and deployment shapes: read-only views of the catalog.

Version listing takes the AIP-159 wildcard ``-`` for the account and the shape
(``accounts/-/trainingShapes/-/versions``: every version of every shape the catalog publishes), an
AIP-160 ``filter`` and an ``orderBy``, as the cookbook's shape selection sends them
(``training/utils/shape_selection``: ``snapshot.base_model="..." AND latest_validated=true AND
snapshot.trainer_mode="POLICY_TRAINER"``, the compatibility buckets ``snapshot.model_type="qwen3" AND
snapshot.parameter_count>=8000000000 AND snapshot.parameter_count<=9000000000``, ``snapshot.engine!=
"FIREATTENTION"``, ``snapshot.accelerator_type=...``, ``snapshot.deployment_shape_version=...``;
``orderBy=create_time desc``) and the SDK's ``resolve_training_profile`` (``latest_validated=true``).
Supported, and nothing more (the least forgiving reading: anything else is 400 INVALID_ARGUMENT,
never silently ignored): comparisons ``=``, ``!=``, ``<``, ``<=``, ``>``, ``>=`` joined by ``AND``
(no ``OR``, ``NOT`` or parentheses) on the fields in ``_FILTER_FIELDS``; ordering operators only on
numbers; ``orderBy`` ``create_time`` or ``name``, each optionally ``desc``/``asc``. With no
``orderBy`` versions come newest first. A version's ``snapshot`` also carries its base model's
``modelType`` and ``parameterCount`` (the docs' "Training Shapes" page: shape metadata).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from reconciler.local._catalog import Catalog, Shape, ShapeVersion
from reconciler.local._errors import invalid, not_found, precondition
from reconciler.local._validate import paginate

WILDCARD = "-"
# filter field -> (where in a version row, kind): "bool", "num" or "str"
_FILTER_FIELDS = {
    "latest_validated": (("latestValidated",), "bool"),
    "validated": (("validated",), "bool"),
    "public": (("public",), "bool"),
    "name": (("name",), "str"),
    **{
        f"snapshot.{snake}": (("snapshot", camel), kind)
        for snake, camel, kind in (
            ("base_model", "baseModel", "str"), ("trainer_mode", "trainerMode", "str"),
            ("model_type", "modelType", "str"), ("parameter_count", "parameterCount", "num"),
            ("accelerator_type", "acceleratorType", "str"), ("accelerator_count", "acceleratorCount", "num"),
            ("node_count", "nodeCount", "num"), ("max_supported_context_length", "maxSupportedContextLength", "num"),
            ("deployment_shape_version", "deploymentShapeVersion", "str"), ("engine", "engine", "str"),
            ("precision", "precision", "str"), ("trainer_image_tag", "trainerImageTag", "str"),
        )
    },
}
_TERM = re.compile(r'^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(!=|>=|<=|=|>|<)\s*("[^"]*"|[^\s"()]+)\s*$')
_ORDER = re.compile(r"^\s*(create_time|name)(?:\s+(asc|desc))?\s*$")
_ORDER_KEYS = {"create_time": "createTime", "name": "name"}

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


def parse_version_filter(raw: str | None) -> list[tuple[tuple[str, ...], str, str, Any]]:
    """The filter's terms as (row path, kind, operator, value); 400 for what is not supported."""
    if not raw or not raw.strip():
        return []
    if re.search(r"\s(OR|or)\s|^\s*NOT\s|\sNOT\s|[()]", raw):
        raise invalid(f"Unsupported filter {raw!r}: only comparisons joined by AND are supported")
    terms = []
    for clause in re.split(r"\s+AND\s+", raw.strip()):
        match = _TERM.match(clause)
        if not match:
            raise invalid(f"Invalid filter term {clause.strip()!r} in {raw!r}: use field = value, joined by AND")
        field, op, text = match.groups()
        if field not in _FILTER_FIELDS:
            raise invalid(f"Unsupported filter field {field!r}: filter on {', '.join(sorted(_FILTER_FIELDS))}")
        path, kind = _FILTER_FIELDS[field]
        value: Any
        if kind == "bool":
            if text not in ("true", "false") or op not in ("=", "!="):
                raise invalid(f"Invalid filter term {clause.strip()!r}: {field} takes = true or = false")
            value = text == "true"
        elif kind == "num":
            try:
                value = int(text.strip('"'))
            except ValueError:
                raise invalid(f"Invalid filter term {clause.strip()!r}: {field} is a number") from None
        else:
            if not (text.startswith('"') and text.endswith('"')) or op not in ("=", "!="):
                raise invalid(f'Invalid filter term {clause.strip()!r}: {field} takes = "text" or != "text"')
            value = text[1:-1]
        terms.append((path, kind, op, value))
    return terms


def _matches(row: dict[str, Any], terms: list[tuple[tuple[str, ...], str, str, Any]]) -> bool:
    for path, kind, op, want in terms:
        have: Any = row
        for key in path:
            have = have.get(key) if isinstance(have, dict) else None
        if kind == "num":
            try:
                have = int(have)
            except (TypeError, ValueError):
                return False
        elif kind == "str":
            have = "" if have is None else str(have)
        else:
            have = bool(have)
        ok = {"=": have == want, "!=": have != want}.get(op)
        if ok is None:
            ok = {"<": have < want, "<=": have <= want, ">": have > want, ">=": have >= want}[op]
        if not ok:
            return False
    return True


def _order(rows: list[dict[str, Any]], raw: str | None) -> list[dict[str, Any]]:
    if not raw or not raw.strip():
        return sorted(rows, key=lambda r: (r["createTime"], r["name"]), reverse=True)
    keys = []
    for part in raw.split(","):
        match = _ORDER.match(part)
        if not match:
            raise invalid(f"Unsupported orderBy {raw!r}: order by create_time or name, optionally desc")
        keys.append((_ORDER_KEYS[match.group(1)], match.group(2) == "desc"))
    for key, desc in reversed(keys):  # stable sorts, last key first
        rows.sort(key=lambda r: str(r[key]), reverse=desc)  # noqa: B023 (used at once)
    return rows


def _version_json(version: ShapeVersion, shape: Shape, training: bool,
                  catalog: Catalog | None = None) -> dict[str, Any]:
    latest = shape.latest_validated()
    snapshot = dict(version.fields)
    details = dict((catalog.models.get(shape.base_model) or {}).get("baseModelDetails") or {}) if catalog else {}
    for key in ("modelType", "parameterCount"):
        if key in details:
            snapshot.setdefault(key, details[key])
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
        shapes, training, key = self._shapes(kind)
        if WILDCARD in (account, shape_id):
            chosen = [s for name, s in shapes.items()
                      if account in (WILDCARD, name.split("/")[1]) and shape_id in (WILDCARD, name.split("/")[-1])]
        else:
            chosen = [self._shape(kind, account, shape_id)]
        terms = parse_version_filter(query.get("filter"))
        rows = [_version_json(v, shape, training, self.catalog) for shape in chosen for v in shape.versions]
        rows = _order([r for r in rows if _matches(r, terms)], query.get("orderBy"))
        page, token = paginate(rows, query.get("pageSize"), query.get("pageToken"))
        return {key: page, "nextPageToken": token, "totalSize": len(rows)}

    def get_shape_version(self, kind: str, account: str, shape_id: str, version_id: str) -> dict[str, Any]:
        shape = self._shape(kind, account, shape_id)
        _, training, _ = self._shapes(kind)
        version = shape.version(version_id)
        if version is None:
            raise not_found(f"version {version_id!r} of {shape.name} not found")
        return _version_json(version, shape, training, self.catalog)
