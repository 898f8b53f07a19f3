"""One parsed YAML document -> one model, or located problems that say what to fix."""

from __future__ import annotations

import difflib
import re
import typing
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic.alias_generators import to_camel

from reconciler.manifest._yaml import ParsedDocument, Path
from reconciler.model.paths import unwrap
from reconciler.model.problems import Problem
from reconciler.model.resources import API_VERSION, KINDS, Document


@dataclass
class Validated:
    """The outcome for one document: its kind and name when readable, the model when valid."""

    source: ParsedDocument
    kind: str | None
    name: str | None
    model: Document | None
    problems: list[Problem]

    @property
    def address(self) -> str | None:
        if self.kind is None:
            return None
        return f"{self.kind}/{self.name}" if self.name is not None else self.kind


def problem_at(source: ParsedDocument, address: str | None, path: Path, message: str) -> Problem:
    line, col = source.locate(path)
    return Problem(source.file, line, col, address, ".".join(path) or None, message)


def advisories(documents: typing.Iterable[Validated]) -> typing.Iterator[Problem]:
    """Each valid document's warnings (``advisories``: risky choices the platform allows), located."""
    for doc in documents:
        if doc.model is not None:
            for field, message in doc.model.advisories():
                yield problem_at(doc.source, doc.model.address, ("spec", *field.split(".")), message)


def validate_document(source: ParsedDocument) -> Validated:
    data = source.data
    if not isinstance(data, dict):
        what = _describe(data)
        return Validated(
            source,
            None,
            None,
            None,
            [problem_at(source, None, (), f"a manifest document must be a mapping with apiVersion, kind, metadata and spec (got {what})")],
        )
    kind = data.get("kind")
    metadata = data.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    name = name if isinstance(name, str) else None
    known_kind = kind if isinstance(kind, str) and kind in KINDS else None
    result = Validated(source, known_kind, name, None, [])
    address = result.address

    if kind is None:
        result.problems.append(problem_at(source, None, ("kind",), f"missing kind (one of {', '.join(KINDS)})"))
    elif known_kind is None:
        hint = _suggest(kind, KINDS) if isinstance(kind, str) else f" (expected one of: {', '.join(KINDS)})"
        result.problems.append(problem_at(source, None, ("kind",), f"unknown kind {_show(kind)}{hint}"))
    api_version = data.get("apiVersion")
    if api_version is None:
        result.problems.append(problem_at(source, address, ("apiVersion",), f"missing apiVersion (expected {API_VERSION})"))
    elif api_version != API_VERSION:
        result.problems.append(
            problem_at(source, address, ("apiVersion",), f"unknown apiVersion {_show(api_version)} (expected {API_VERSION})")
        )
    if known_kind is None:
        return result

    model_class = KINDS[known_kind]
    try:
        result.model = model_class.model_validate(data, by_alias=True, by_name=False)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            loc = tuple(str(part) for part in error["loc"] if part != "[key]")
            if loc[:1] in (("apiVersion",), ("kind",)):
                continue  # reported above, in our words
            result.problems += _problems_from_error(source, address, model_class, loc, error)
    if result.problems:
        result.model = None
    return result


def _problems_from_error(
    source: ParsedDocument, address: str | None, model_class: type[BaseModel], loc: Path, error: Any
) -> list[Problem]:
    kind = error["type"]
    if kind == "fwctl_rule":
        return [
            problem_at(source, address, (*loc, *tuple(field.split("."))) if field else loc, message)
            for field, message in error["ctx"]["rules"]
        ]
    if kind == "extra_forbidden":
        return [problem_at(source, address, loc, _unknown_field(model_class, loc))]
    if kind == "missing":
        return [problem_at(source, address, loc, "required field is missing")]
    message = _humanize(error["msg"])
    if kind not in ("too_long",):
        message += f" (got {_show(error['input'])})"
    return [problem_at(source, address, loc, message)]


_SHOULD = re.compile(r"^(?:Input|String|Value|List|Tuple|Dictionary|Object|Decimal|Integer|Float)\s+should\s+")


def _humanize(message: str) -> str:
    message = re.sub(r"^(?:Value error|Assertion failed),\s*", "", message)
    return _SHOULD.sub("must ", message)


def _describe(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return _show(value)


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple | set):
        return "a list"
    if isinstance(value, int | float):
        return str(value)
    text = str(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return repr(text)


def _suggest(word: str, candidates: typing.Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    if close:
        return f" (did you mean {close[0]}?)"
    return f" (expected one of: {', '.join(candidates)})"


def _unknown_field(model_class: type[BaseModel], loc: Path) -> str:
    key = loc[-1]
    parent = _model_at(model_class, loc[:-1])
    if parent is None:
        return f"unknown field {_show(key)}"
    fields = [info.alias or name for name, info in parent.model_fields.items()]
    camel = to_camel(key)
    if camel != key and camel in fields:
        return f"unknown field {_show(key)} (did you mean {camel}? fields are camelCase)"
    return f"unknown field {_show(key)}{_suggest(key, fields)}"


def _model_at(model_class: type[BaseModel], path: Path) -> type[BaseModel] | None:
    current: type[BaseModel] = model_class
    for part in path:
        by_alias = {info.alias or name: info for name, info in current.model_fields.items()}
        info = by_alias.get(part)
        if info is None:
            return None
        inner = unwrap(info.annotation)
        if not (isinstance(inner, type) and issubclass(inner, BaseModel)):
            return None
        current = inner
    return current


