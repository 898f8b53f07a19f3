"""Variables and for-each (issue 16): parsed documents -> the documents the models validate.

    expand(documents, inputs) -> Expanded(documents, resolved, problems, unresolved)

Runs before model validation, so everything downstream sees ordinary documents; a for-each
document becomes one document per key, named ``name[key]``. Values come from, highest first:
``-var NAME=VALUE``, ``--var-file FILE`` (later files win), ``FWCTL_VAR_<NAME>``, the default.
Every mistake is a located Problem: the reference (``FILE:LINE:COL`` of ``${``) or the declaration,
and which source gave a bad value. Values never appear in problems when they look like secrets.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import yaml
from pydantic import ValidationError

from reconciler.manifest._yaml import ParsedDocument, Path, parse
from reconciler.model.problems import Problem
from reconciler.model.variables import KEY_PATTERN, Variable, check_value, show

ENV_PREFIX = "FWCTL_VAR_"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_KEY = re.compile(rf"^{KEY_PATTERN}$")
_REFERENCE = re.compile(r"\$\$\{|\$\{([^}]*)\}")
_WHOLE = re.compile(r"^\$\{([^}]*)\}$")
# A variable is recorded in saved plans (and shown by --show-values): secrets must not be one.
_SECRET_NAME = re.compile(r"(?i)(secret|password|passwd|token|api_?key|credential|private_?key)")
_SECRET_VALUE = re.compile(r"^fw_[A-Za-z0-9]{16,}$|://[^/@\s:]*:[^/@\s]+@|^-----BEGIN [A-Z ]*PRIVATE KEY")
_VARIABLES_PATH: Path = ("spec", "variables")
_FOR_EACH_PATH: Path = ("metadata", "forEach")


@dataclass(frozen=True)
class VariableInputs:
    """What the command line gave: ``-var`` assignments and ``--var-file`` paths, in order."""

    assignments: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    env: Mapping[str, str] | None = None  # None: the process environment


_INPUTS: ContextVar[VariableInputs | None] = ContextVar("fwctl_variable_inputs", default=None)


def use_variable_inputs(inputs: VariableInputs) -> None:
    """Set the ``-var`` / ``--var-file`` inputs every later ``load_manifests`` of this context uses."""
    _INPUTS.set(inputs)


def current_variable_inputs() -> VariableInputs:
    return _INPUTS.get() or VariableInputs()


@dataclass(frozen=True)
class Resolved:
    """The value of every declared variable that has one, and where it came from."""

    values: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)


@dataclass
class Expanded:
    documents: list[ParsedDocument]
    resolved: Resolved
    problems: list[Problem]
    #: id(document) -> field paths left unresolved (their model errors would only repeat a problem)
    unresolved: dict[int, set[str]] = field(default_factory=dict)


class _Unresolved:
    """A reference whose problem is already reported: leave the text, say nothing more."""


_UNRESOLVED = _Unresolved()


@dataclass
class _Declarations:
    stack: ParsedDocument | None
    address: str | None
    declared: dict[str, Variable]
    broken: set[str]  # declared, but the declaration itself is invalid (the model reports it)

    def where(self, name: str | None = None, leaf: str | None = None) -> tuple[str | None, int | None, int | None]:
        if self.stack is None:
            return None, None, None
        path = _VARIABLES_PATH + ((name,) if name else ()) + ((leaf,) if leaf else ())
        line, col = self.stack.locate(path)
        return self.stack.file, line, col

    def problem(self, name: str | None, message: str, leaf: str | None = None) -> Problem:
        file, line, col = self.where(name, leaf)
        path = ".".join(_VARIABLES_PATH + ((name,) if name else ()) + ((leaf,) if leaf else ()))
        return Problem(file, line, col, self.address, path if self.stack is not None else None, message)

    def listing(self) -> str:
        names = sorted(self.declared) + sorted(self.broken)
        return f"declared: {', '.join(names)}" if names else "the Stack declares no variables (spec.variables)"


def _declarations(documents: Sequence[ParsedDocument], problems: list[Problem]) -> _Declarations:
    stack = next((d for d in documents if isinstance(d.data, dict) and d.data.get("kind") == "Stack"), None)
    found = _Declarations(stack, None, {}, set())
    if stack is None:
        return found
    metadata = stack.data.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    found.address = f"Stack/{name}" if isinstance(name, str) else "Stack"
    spec = stack.data.get("spec")
    raw = spec.get("variables") if isinstance(spec, dict) else None
    if not isinstance(raw, dict):
        return found  # absent, or the model reports its shape
    for var_name, declaration in raw.items():
        var_name = str(var_name)
        if not _NAME.match(var_name):
            problems.append(found.problem(var_name, f"variable name {var_name!r} must be letters, digits and '_', "
                                                    "starting with a letter or '_'"))
            found.broken.add(var_name)
            continue
        if _SECRET_NAME.search(var_name):
            problems.append(found.problem(var_name, f"variable '{var_name}' looks like a secret: variables are "
                                                    "recorded in saved plans and state; give secrets through "
                                                    "the environment (FIREWORKS_API_KEY, PGPASSWORD) instead"))
            found.broken.add(var_name)
            continue
        try:
            variable = Variable.model_validate(declaration)
        except ValidationError:
            found.broken.add(var_name)  # the Stack model reports where and why
            continue
        if variable.default is not None:
            why = check_value(variable, variable.default)
            if why is not None:
                problems.append(found.problem(var_name, f"the default {show(variable.default)} {why}", "default"))
                found.broken.add(var_name)
                continue
        found.declared[var_name] = variable
    return found


def _from_text(variable: Variable, text: str) -> Any:
    """A -var or FWCTL_VAR_ value typed as the variable says (left as text when it does not parse)."""
    kind, stripped = variable.type, text.strip()
    try:
        if kind == "integer":
            return int(stripped)
        if kind == "number":
            try:
                return int(stripped)
            except ValueError:
                number = float(stripped)
                return number if math.isfinite(number) else text
        if kind == "boolean":
            return {"true": True, "false": False}.get(stripped.lower(), text)
        if kind in ("list", "map"):
            return yaml.safe_load(text)
    except (ValueError, yaml.YAMLError):
        return text
    return text


def _given(decls: _Declarations, inputs: VariableInputs, problems: list[Problem]) -> dict[str, tuple[Any, str]]:
    """name -> (value, source) from the command line, the var files and the environment."""
    given: dict[str, tuple[Any, str]] = {}
    env = os.environ if inputs.env is None else inputs.env
    for name, variable in decls.declared.items():
        for env_name in (f"{ENV_PREFIX}{name}", f"{ENV_PREFIX}{name.upper()}"):
            if env_name in env:
                given[name] = (_from_text(variable, env[env_name]), env_name)
                break
    for path in inputs.files:
        given.update(_from_file(decls, path, problems))
    for text in inputs.assignments:
        name, sep, value = text.partition("=")
        name = name.strip()
        if not sep or not name:
            problems.append(Problem(None, None, None, None, None, f"-var {text!r}: expected NAME=VALUE"))
            continue
        if name in decls.broken:
            continue
        if name not in decls.declared:
            problems.append(decls.problem(None, f"-var {name}=...: no variable '{name}' is declared, so the value "
                                                f"would be unused ({decls.listing()})"))
            continue
        given[name] = (_from_text(decls.declared[name], value), f"-var {name}")
    return given


def _from_file(decls: _Declarations, path: str, problems: list[Problem]) -> dict[str, tuple[Any, str]]:
    try:
        with open(path, encoding="utf-8-sig") as handle:
            text = handle.read()
    except FileNotFoundError:
        problems.append(Problem(path, None, None, None, None, "--var-file: no such file"))
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(Problem(path, None, None, None, None, f"--var-file: cannot read: {exc}"))
        return {}
    parsed = parse(path, text)
    problems += parsed.problems
    if not parsed.documents:
        return {}
    document = parsed.documents[0]
    if len(parsed.documents) > 1 or not isinstance(document.data, dict):
        line, col = document.position
        problems.append(Problem(path, line, col, None, None, "a var file is one mapping of variable names to values"))
        return {}
    found: dict[str, tuple[Any, str]] = {}
    for key, value in document.data.items():
        line, col = document.locate((str(key),))
        if str(key) in decls.broken:
            continue
        if str(key) not in decls.declared:
            problems.append(Problem(path, line, col, None, None,
                                    f"sets '{key}', which is not a declared variable ({decls.listing()})"))
            continue
        found[str(key)] = (value, f"--var-file {path}:{line}:{col}")
    return found


def resolve_variables(decls: _Declarations, inputs: VariableInputs, problems: list[Problem]) -> Resolved:
    given = _given(decls, inputs, problems)
    resolved = Resolved()
    for name, variable in decls.declared.items():
        if name in given:
            value, source = given[name]
        elif variable.default is not None:
            value, source = variable.default, "default"
        else:
            problems.append(decls.problem(name, f"variable '{name}' has no value and no default: give "
                                                f"-var {name}=VALUE, a --var-file entry or {ENV_PREFIX}{name}"))
            continue
        value = _plain(value)
        if isinstance(value, str) and _SECRET_VALUE.search(value):
            problems.append(decls.problem(name, f"the value of '{name}' from {source} looks like a secret (an API "
                                                "key, a password in a URL, a private key): variables are recorded "
                                                "in saved plans and state; give secrets through the environment"))
            continue
        why = check_value(variable, value)
        if why is not None:
            problems.append(decls.problem(name, f"{_quote(value)} from {source} {why}"))
            continue
        resolved.values[name] = value
        resolved.sources[name] = source
    return resolved


def _plain(value: Any) -> Any:
    """Map keys as text (YAML reads ``1e-5:`` as a number): values are JSON in plans."""
    if isinstance(value, dict):
        return {(k if isinstance(k, str) else show(k)): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _quote(value: Any) -> str:
    return repr(value) if isinstance(value, str) else show(value)


@dataclass
class _Scope:
    """What ``${...}`` can name in one document (instance)."""

    source: ParsedDocument
    address: str | None
    decls: _Declarations
    resolved: Resolved
    each: tuple[str, Any] | None
    problems: list[Problem]
    unresolved: set[str]

    def problem(self, path: Path, offset: int, message: str) -> None:
        at = self.source.values.get(path)
        line, col = (at[0], at[1] + offset) if at is not None else self.source.locate(path)
        self.problems.append(Problem(self.source.file, line, col, self.address, ".".join(path) or None, message))
        self.unresolved.add(".".join(path))

    def evaluate(self, expression: str, path: Path, offset: int) -> Any:
        parts = expression.strip().split(".")
        if parts[0] == "var" and len(parts) >= 2:
            name = parts[1]
            if name in self.decls.broken or (name in self.decls.declared and name not in self.resolved.values):
                self.unresolved.add(".".join(path))
                return _UNRESOLVED  # the declaration's problem says why
            if name not in self.decls.declared:
                self.problem(path, offset, f"undefined variable '{name}' in ${{{expression}}} ({self.decls.listing()})")
                return _UNRESOLVED
            return self._field(self.resolved.values[name], parts[2:], f"var.{name}", path, offset)
        if parts[0] == "each" and len(parts) >= 2 and parts[1] in ("key", "value"):
            if self.each is None:
                self.problem(path, offset, f"${{{expression}}} is only available in a document with metadata.forEach")
                return _UNRESOLVED
            if parts[1] == "key":
                if len(parts) > 2:
                    self.problem(path, offset, "each.key has no fields")
                    return _UNRESOLVED
                return self.each[0]
            return self._field(self.each[1], parts[2:], "each.value", path, offset)
        self.problem(path, offset, f"unknown reference ${{{expression}}}: use ${{var.NAME}}, ${{each.key}}, "
                                   "${each.value} or ${each.value.FIELD} (write $${ for a literal ${)")
        return _UNRESOLVED

    def _field(self, value: Any, fields: list[str], what: str, path: Path, offset: int) -> Any:
        for name in fields:
            if not isinstance(value, dict) or name not in value:
                has = f" (it has {', '.join(map(str, value))})" if isinstance(value, dict) and value else ""
                key = f" for key '{self.each[0]}'" if self.each is not None and what.startswith("each") else ""
                self.problem(path, offset, f"{what} has no field '{name}'{key}{has}")
                return _UNRESOLVED
            value, what = value[name], f"{what}.{name}"
        return value

    def text(self, text: str, path: Path) -> Any:
        whole = _WHOLE.match(text)
        if whole:
            value = self.evaluate(whole.group(1), path, 0)
            return text if value is _UNRESOLVED else value
        out: list[str] = []
        last, failed = 0, False
        for match in _REFERENCE.finditer(text):
            out.append(text[last:match.start()])
            last = match.end()
            if match.group(0) == "$${":
                out.append("${")
                continue
            value = self.evaluate(match.group(1), path, match.start())
            if value is _UNRESOLVED:
                failed = True
            elif isinstance(value, dict | list) or value is None:
                self.problem(path, match.start(), f"${{{match.group(1)}}} is {_kind(value)}: only a whole value "
                                                  "can be a list or a map, not part of a string")
                failed = True
            else:
                out.append(show(value))
        out.append(text[last:])
        return text if failed else "".join(out)

    def walk(self, value: Any, path: Path) -> Any:
        if isinstance(value, dict):
            return {k: (v if (*path, str(k)) in (_VARIABLES_PATH, _FOR_EACH_PATH) else self.walk(v, (*path, str(k))))
                    for k, v in value.items()}
        if isinstance(value, list):
            return [self.walk(item, (*path, str(index))) for index, item in enumerate(value)]
        if isinstance(value, str) and "${" in value:
            return self.text(value, path)
        return value


def _kind(value: Any) -> str:
    return "a map" if isinstance(value, dict) else "a list" if isinstance(value, list) else "null"


def _keys(scope: _Scope, raw: Any) -> list[tuple[str, Any]] | None:
    """The (key, value) pairs of a forEach, or None (a problem was reported)."""
    if isinstance(raw, str):
        raw = scope.text(raw, _FOR_EACH_PATH)
        if isinstance(raw, str):
            if ".".join(_FOR_EACH_PATH) not in scope.unresolved:
                scope.problem(_FOR_EACH_PATH, 0, "forEach must be a list, a map or ${var.NAME} naming one")
            return None
    if isinstance(raw, list):
        pairs = []
        for index, item in enumerate(raw):
            if isinstance(item, bool) or not isinstance(item, str | int | float):
                got = _kind(item) if item is None or isinstance(item, dict | list) else show(item)
                scope.problem((*_FOR_EACH_PATH, str(index)), 0, f"a forEach list holds strings or numbers "
                                                                f"(got {got}); use a map of key -> object for more")
                return None
            pairs.append((show(item), item))
    elif isinstance(raw, dict):
        pairs = [(show(key) if not isinstance(key, str) else key, value) for key, value in raw.items()]
    else:
        scope.problem(_FOR_EACH_PATH, 0, f"forEach must be a list or a map (got {_kind(raw)})")
        return None
    seen: dict[str, int] = {}
    for index, (key, _value) in enumerate(pairs):
        where = (*_FOR_EACH_PATH, str(index)) if isinstance(raw, list) else (*_FOR_EACH_PATH, key)
        if not _KEY.match(key):
            scope.problem(where, 0, f"for-each key {key!r} must be 1-40 letters, digits, '.', '_' or '-', "
                                    "starting with a letter or digit")
            return None
        if key in seen:
            scope.problem(where, 0, f"duplicate for-each key '{key}'")
            return None
        seen[key] = index
    return pairs


def expand(documents: Sequence[ParsedDocument], inputs: VariableInputs) -> Expanded:
    """Resolve the variables and stamp the for-each instances of ``documents`` (all files, in order)."""
    problems: list[Problem] = []
    decls = _declarations(documents, problems)
    resolved = resolve_variables(decls, inputs, problems)
    out = Expanded([], resolved, problems)
    for document in documents:
        data = document.data
        if not isinstance(data, dict) or not _uses_anything(data):
            out.documents.append(document)
            continue
        raw_metadata = data.get("metadata")
        metadata: dict[str, Any] = raw_metadata if isinstance(raw_metadata, dict) else {}
        kind, name = data.get("kind"), metadata.get("name")
        address = f"{kind}/{name}" if isinstance(kind, str) and isinstance(name, str) else None
        unresolved: set[str] = set()
        scope = _Scope(document, address, decls, resolved, None, problems, unresolved)
        if "forEach" not in metadata:
            if isinstance(name, str) and "[" in name:
                scope.problem(("metadata", "name"), 0, "'[' is for for-each instances: a name is a DNS label "
                                                       "(add metadata.forEach to stamp name[key] instances)")
            _add(out, document, scope.walk(data, ()), unresolved)
            continue
        if kind == "Stack":
            scope.problem(_FOR_EACH_PATH, 0, "a Stack cannot have forEach")
            continue
        pairs = _keys(scope, metadata["forEach"])
        if pairs is None or not isinstance(name, str):
            continue
        for key, value in pairs:
            each_unresolved: set[str] = set()
            instance = f"{name}[{key}]"
            each = _Scope(document, f"{kind}/{instance}", decls, resolved, (key, value), problems, each_unresolved)
            stamped = each.walk(data, ())
            stamped["metadata"] = {k: v for k, v in stamped["metadata"].items() if k != "forEach"}
            stamped["metadata"]["name"] = instance
            _add(out, document, stamped, each_unresolved)
    return out


def _add(out: Expanded, source: ParsedDocument, data: Any, unresolved: set[str]) -> None:
    document = ParsedDocument(source.file, source.position, data, source.positions, source.values)
    out.documents.append(document)
    if unresolved:
        out.unresolved[id(document)] = unresolved


def _uses_anything(data: dict[str, Any]) -> bool:
    """Whether a document needs the walk (most do not: they are kept as parsed)."""
    metadata = data.get("metadata")
    if isinstance(metadata, dict) and ("forEach" in metadata or "[" in str(metadata.get("name", ""))):
        return True
    return _has_reference(data)


def _has_reference(value: Any) -> bool:
    if isinstance(value, str):
        return "${" in value
    if isinstance(value, dict):
        return any(_has_reference(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_reference(v) for v in value)
    return False


__all__ = ["ENV_PREFIX", "Expanded", "Resolved", "VariableInputs", "current_variable_inputs", "expand",
           "resolve_variables", "use_variable_inputs"]
