"""Variables a Stack declares (``spec.variables``) and the names of for-each instances (issue 16).

A document with ``metadata.forEach`` stands for one resource per key, named ``name[key]`` and
addressed ``Kind/name[key]``. Remote ids cannot hold brackets, so ids are derived from
``remote_name``: ``policy[1e-5]`` -> ``policy-1e-5`` (a short hash of the key is added when the key
had to be changed to fit, so two keys never share an id). Pure: no YAML here.
"""

from __future__ import annotations

import hashlib
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

#: The types a variable may have.
VARIABLE_TYPES = ("string", "number", "integer", "boolean", "list", "map")
VariableType = Literal["string", "number", "integer", "boolean", "list", "map"]
#: A for-each key: what goes between the brackets of ``name[key]``.
KEY_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,39}"
RESOURCE_NAME_PATTERN = rf"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\[{KEY_PATTERN}\])?$"
_RESOURCE_NAME = re.compile(RESOURCE_NAME_PATTERN)
_NAME_MESSAGE = ("must be a DNS label: lowercase letters, digits and '-', starting and ending with a letter or digit "
                 "(a for-each instance is name[key])")
_MAX_NAME = 63 + 42


def _check_name(value: str) -> str:
    if len(value) > _MAX_NAME:
        raise PydanticCustomError("too_long", "must have at most {max} characters (got {n})",
                                  {"max": _MAX_NAME, "n": len(value)})
    if not _RESOURCE_NAME.match(value):
        raise PydanticCustomError("pattern", _NAME_MESSAGE)
    return value


#: A resource's name, or the name of another resource a spec refers to: ``policy`` or ``policy[1e-5]``.
ResourceName = Annotated[
    str,
    AfterValidator(_check_name),
    WithJsonSchema({"type": "string", "pattern": RESOURCE_NAME_PATTERN,
                    "description": "A DNS label (lowercase letters, digits and '-'); a for-each instance is "
                                   "name[key]."}),
]


def split_instance(name: str) -> tuple[str, str | None]:
    """``policy[1e-5]`` -> ``("policy", "1e-5")``; ``policy`` -> ``("policy", None)``."""
    if name.endswith("]") and "[" in name:
        base, _, key = name[:-1].partition("[")
        return base, key
    return name, None


def remote_name(name: str) -> str:
    """The form of a resource name that goes into remote ids (lowercase letters, digits, '-').

    A plain name is itself. An instance ``base[key]`` is ``base-key`` when the key already fits a
    DNS label; otherwise the key is lowercased with other characters turned into '-', and 4 hex of
    the key's sha256 are appended (``lr[0.001]`` -> ``lr-0-001-<hex>``) so ids stay distinct per key.
    """
    base, key = split_instance(name)
    if key is None:
        return name
    slug = re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9-]", "-", key.lower())).strip("-")
    if slug != key:
        slug = f"{slug}-{hashlib.sha256(key.encode()).hexdigest()[:4]}".strip("-")
    return f"{base}-{slug}"


class Variable(BaseModel):
    """A value the manifests take from ``-var NAME=VALUE``, ``--var-file FILE``, the environment
    variable ``FWCTL_VAR_<NAME>`` or this default (highest first). Values are recorded in saved plans
    and state, so a variable must never hold a secret."""

    model_config = ConfigDict(frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True)

    type: VariableType = Field(description="The value's type: string, number, integer, boolean, list or map.")
    default: Any = Field(default=None, description="The value when no -var, --var-file or FWCTL_VAR_<NAME> "
                                                   "gives one; without a default the variable is required.")
    description: str | None = Field(default=None, description="What the variable is for (shown by "
                                                              "`fwctl plan --show-values`).")
    allowed: tuple[Any, ...] | None = Field(default=None, description="The only values accepted.")
    min: float | None = Field(default=None, description="Smallest value accepted (number and integer).")
    max: float | None = Field(default=None, description="Largest value accepted (number and integer).")


#: ``metadata.forEach``: the keys of a for-each document (or a ``${var.NAME}`` naming them).
ForEach = Annotated[
    list[str | int | float] | dict[str, Any] | str | None,
    Field(default=None, description="Stamp one resource per item (a list of scalars) or per key (a map of key "
                                    "to value), addressed Kind/name[key]; ${each.key} and ${each.value} "
                                    "(${each.value.field}) are available in the document. May be ${var.NAME}."),
]


def check_value(declared: Variable, value: Any) -> str | None:
    """Why ``value`` is not acceptable for ``declared`` (None when it is)."""
    kind = declared.type
    fits = {
        "string": isinstance(value, str),
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "boolean": isinstance(value, bool),
        "list": isinstance(value, list),
        "map": isinstance(value, dict),
    }[kind]
    if not fits:
        return f"is not {'an' if kind[0] in 'aeiou' else 'a'} {kind}"
    if declared.allowed is not None and value not in declared.allowed:
        return "is not one of the allowed values (" + ", ".join(show(v) for v in declared.allowed) + ")"
    if kind in ("number", "integer"):
        if declared.min is not None and value < declared.min:
            return f"is below the minimum {show(declared.min)}"
        if declared.max is not None and value > declared.max:
            return f"is above the maximum {show(declared.max)}"
    return None


def show(value: Any) -> str:
    """A value as a person writes it in YAML: 1e-5, true, 'text', [a, b]."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, float):
        text = repr(value)
        return re.sub(r"e([+-])0*(\d)", lambda m: f"e{'-' if m.group(1) == '-' else ''}{m.group(2)}", text)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(show(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {show(v)}" for k, v in value.items()) + "}"
    return str(value)


__all__ = ["KEY_PATTERN", "RESOURCE_NAME_PATTERN", "VARIABLE_TYPES", "ForEach", "ResourceName", "Variable",
           "check_value", "remote_name", "show", "split_instance"]
