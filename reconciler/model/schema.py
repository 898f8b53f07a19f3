"""JSON Schema for fwctl's documents, generated from the models (``fwctl schema`` writes ``schemas/``).

:data:`SCHEMA_MODELS` maps a schema name to a model or any type pydantic can describe; each
becomes ``schemas/<name>.schema.json``: the manifest kinds, and the JSON plan (``plan``).
"""

from __future__ import annotations

import json
import os
from typing import Annotated, Any

from pydantic import Field, TypeAdapter

from reconciler.model.plan_document import PlanDocument
from reconciler.model.resources import Deployment, ReferenceTrainer, Stack, SyncBinding, Trainer

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

#: Any manifest document, told apart by ``kind``.
ManifestDocument = Annotated[Stack | Trainer | ReferenceTrainer | Deployment | SyncBinding, Field(discriminator="kind")]

#: schema name -> type; ``<name>.schema.json`` in the output directory.
SCHEMA_MODELS: dict[str, Any] = {
    "stack": Stack,
    "trainer": Trainer,
    "referencetrainer": ReferenceTrainer,
    "deployment": Deployment,
    "syncbinding": SyncBinding,
    "manifest": ManifestDocument,
    "plan": PlanDocument,
}

_TITLES = {"manifest": "fwctl/v1 manifest document", "plan": "fwctl plan (fwctl plan --json)"}


def _drop_property_titles(node: Any) -> None:
    # pydantic titles every property after its Python name ("Basemodel"); editors show the key anyway.
    if isinstance(node, dict):
        properties = node.get("properties")
        if isinstance(properties, dict):
            for value in properties.values():
                if isinstance(value, dict):
                    value.pop("title", None)
        for value in node.values():
            _drop_property_titles(value)
    elif isinstance(node, list):
        for value in node:
            _drop_property_titles(value)


_REFERENCE = {"type": "string", "pattern": r"\$\{[^}]+\}",
              "description": "A ${var.NAME} / ${each.key} / ${each.value.FIELD} reference (issue 16): a whole "
                             "value keeps the variable's type; inside a string it is interpolated."}
_NO_REFERENCES = {"apiVersion", "kind", "variables", "forEach"}


def _allow_references(node: Any) -> None:
    """Every manifest field also accepts a ``${...}`` reference, resolved before validation."""
    if isinstance(node, dict):
        properties = node.get("properties")
        if isinstance(properties, dict):
            for key, value in list(properties.items()):
                if key in _NO_REFERENCES or not isinstance(value, dict):
                    continue
                outer = {k: value.pop(k) for k in ("description", "default") if k in value}
                properties[key] = {"anyOf": [value, {"$ref": "#/$defs/Reference"}], **outer}
        for key, value in node.items():
            if key != "properties" or not isinstance(value, dict):
                _allow_references(value)
            else:
                for inner in value.values():
                    _allow_references(inner.get("anyOf", [inner])[0] if isinstance(inner, dict) else inner)
    elif isinstance(node, list):
        for value in node:
            _allow_references(value)


def json_schema(name: str) -> dict[str, Any]:
    """The JSON Schema of one registered document type (aliases, i.e. camelCase keys)."""
    schema = TypeAdapter(SCHEMA_MODELS[name]).json_schema(by_alias=True, mode="validation")
    _drop_property_titles(schema)
    if name != "plan":
        _allow_references(schema)
        schema.setdefault("$defs", {})["Reference"] = _REFERENCE
    if name in _TITLES:
        schema["title"] = _TITLES[name]
    return {"$schema": JSON_SCHEMA_DIALECT, **schema}


def schema_files() -> dict[str, str]:
    """File name -> JSON text for every registered schema (stable output, newline-terminated)."""
    return {
        f"{name}.schema.json": json.dumps(json_schema(name), indent=2, ensure_ascii=False) + "\n"
        for name in SCHEMA_MODELS
    }


def write_schemas(directory: str) -> list[str]:
    """Write every schema into ``directory`` (created if missing); returns the paths written."""
    os.makedirs(directory, exist_ok=True)
    written = []
    for file_name, text in schema_files().items():
        path = os.path.join(directory, file_name)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
        written.append(path)
    return written
