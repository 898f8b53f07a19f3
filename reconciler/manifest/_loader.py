"""Files, directories and stdin -> one validated stack of manifests (or every problem at once)."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from reconciler.manifest._checks import DEFAULT_STACK_NAME, check_stack, stack_of
from reconciler.manifest._document import Validated, advisories, validate_document
from reconciler.manifest._variables import VariableInputs, current_variable_inputs, expand
from reconciler.manifest._yaml import MAX_FILE_BYTES, ParsedDocument, decode, parse
from reconciler.model.problems import ManifestError, Problem
from reconciler.model.resources import Resource, Stack

STDIN = "-"
STDIN_NAME = "<stdin>"
MANIFEST_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class Manifests:
    """A validated stack: the desired resources, in file order, and where each came from."""

    stack: Stack | None
    stack_name: str
    resources: dict[str, Resource]
    digest: str
    sources: tuple[tuple[str, str], ...]
    documents: Mapping[str, ParsedDocument] = field(default_factory=dict, repr=False, compare=False)
    #: The resolved ``${var.NAME}`` values and where each came from (``-var lr``, ``default``, ...).
    variables: Mapping[str, Any] = field(default_factory=dict, compare=False)
    variable_sources: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)
    #: Risky choices the platform allows (each model's ``advisories``), located like problems.
    warnings: tuple[Problem, ...] = field(default=(), compare=False)

    def locate(self, address: str, field: str | None = None) -> str:
        """``FILE:LINE:COL`` of a document (``Kind/name``) or of a dotted camelCase field under it
        (e.g. ``spec.snapshot``); a field that is not written in the file locates its closest
        written ancestor. Raises KeyError for an address that is not in the manifests."""
        document = self.documents[address]
        line, col = document.locate(tuple(field.split(".")) if field else ())
        return f"{document.file}:{line}:{col}"


def manifest_files(directory: str) -> list[str]:
    """The ``*.yaml`` / ``*.yml`` files directly in ``directory``, sorted by name."""
    names = sorted(
        entry.name
        for entry in os.scandir(directory)
        if entry.name.endswith(MANIFEST_SUFFIXES) and not entry.name.startswith(".") and entry.is_file()
    )
    return [os.path.normpath(os.path.join(directory, name)) for name in names]


def _may_be_manifest(path: str) -> bool:
    """Whether a YAML file could hold manifest documents (every one names its apiVersion)."""
    try:
        with open(path, "rb") as handle:
            return b"apiVersion" in handle.read(MAX_FILE_BYTES)
    except OSError:
        return True  # let the loader say what is wrong


def discover_stacks(paths: Sequence[str]) -> list[list[str]]:
    """Group paths into stacks for commands that accept several stacks at once (``validate``).

    Files, stdin and directories that hold manifests directly form one stack together (as
    ``load_manifests`` reads them). A directory without manifests of its own is a directory of
    stacks: each subdirectory (recursively, hidden ones skipped) is then a stack of its own; one whose
    YAML files name no apiVersion holds var files (``envs/``) and is skipped.
    """
    main: list[str] = []
    groups: list[list[str]] = []

    def visit(directory: str, top: bool) -> None:
        files = manifest_files(directory)
        if files and not top and not any(_may_be_manifest(file) for file in files):
            return  # var files (envs/dev.yaml: --var-file, issue 16), not a stack
        if files:
            if top:
                main.append(directory)
            else:
                groups.append([directory])
            return
        subdirectories = sorted(
            entry.path for entry in os.scandir(directory) if entry.is_dir() and not entry.name.startswith(".")
        )
        found_before = len(groups)
        for subdirectory in subdirectories:
            visit(subdirectory, top=False)
        if top and len(groups) == found_before:
            main.append(directory)  # nothing anywhere below: let the loader say so

    for path in paths:
        if path != STDIN and os.path.isdir(path):
            visit(path, top=True)
        else:
            main.append(path)
    return ([main] if main else []) + groups


def _read(path: str, stdin: BinaryIO | None) -> tuple[list[tuple[str, bytes]], list[Problem]]:
    if path == STDIN:
        stream = stdin if stdin is not None else getattr(sys.stdin, "buffer", None)
        if stream is None:
            return [(STDIN_NAME, sys.stdin.read(MAX_FILE_BYTES + 1).encode("utf-8", "replace"))], []
        return [(STDIN_NAME, stream.read(MAX_FILE_BYTES + 1))], []
    try:
        if os.path.isdir(path):
            files = manifest_files(path)
            if not files:
                return [], [Problem(path, None, None, None, None, "no manifest files (*.yaml, *.yml) in this directory")]
            found: list[tuple[str, bytes]] = []
            problems: list[Problem] = []
            for file in files:
                more, trouble = _read(file, stdin)
                found += more
                problems += trouble
            return found, problems
        with open(path, "rb") as handle:
            return [(path, handle.read(MAX_FILE_BYTES + 1))], []
    except FileNotFoundError:
        return [], [Problem(path, None, None, None, None, "no such file or directory")]
    except OSError as exc:
        return [], [Problem(path, None, None, None, None, f"cannot read: {exc.strerror or exc}")]


def _digest(documents: Sequence[Validated]) -> str:
    canonical = sorted(
        (doc.model.model_dump(mode="json", by_alias=True) for doc in documents if doc.model is not None),
        key=lambda d: (d["kind"], d["metadata"]["name"]),
    )
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def load_manifests(paths: Sequence[str], *, stdin: BinaryIO | None = None,
                   variables: VariableInputs | None = None) -> Manifests:
    """Read, parse and validate every manifest document under ``paths`` as one stack.

    ``paths`` are files, directories (their ``*.yaml`` / ``*.yml`` files, sorted) or ``-`` for
    standard input (read once). ``variables``: the ``-var`` / ``--var-file`` inputs (default: those
    set by ``use_variable_inputs``). Raises :class:`ManifestError` with every problem found.
    """
    raw: list[tuple[str, bytes]] = []
    problems: list[Problem] = []
    seen: set[str] = set()
    for path in paths:
        key = path if path == STDIN else os.path.realpath(path)
        if key in seen:
            continue
        seen.add(key)
        found, trouble = _read(path, stdin)
        problems += trouble
        for name, data in found:
            real = name if name == STDIN_NAME else os.path.realpath(name)
            if real != key and real in seen:
                continue
            seen.add(real)
            raw.append((name, data))

    sources: list[tuple[str, str]] = []
    documents: list[Validated] = []
    parsed_documents: list[ParsedDocument] = []
    for name, data in raw:
        text, undecodable = decode(name, data)
        if text is None:
            problems += [undecodable] if undecodable is not None else []
            continue
        sources.append((name, text))
        parsed = parse(name, text)
        problems += parsed.problems
        parsed_documents += parsed.documents
    expanded = expand(parsed_documents, variables if variables is not None else current_variable_inputs())
    problems += expanded.problems
    for document in expanded.documents:
        try:
            validated = validate_document(document)
        except Exception as exc:  # a bug of ours: still a located line, not a traceback
            line, col = document.position
            message = f"internal error while validating this document ({type(exc).__name__}: {exc}); please report"
            problems.append(Problem(document.file, line, col, None, None, message))
            continue
        unresolved = expanded.unresolved.get(id(document))
        if unresolved:  # a reference already reported: its value's model error would only repeat it
            validated.problems = [p for p in validated.problems if p.field not in unresolved]
        problems += validated.problems
        documents.append(validated)

    stack_doc, extra_stacks = stack_of(documents)
    problems += extra_stacks
    stack_name = stack_doc.name if stack_doc is not None and stack_doc.name else DEFAULT_STACK_NAME
    problems += check_stack(documents, stack_name)
    if problems:
        order = {name: index for index, (name, _data) in enumerate(raw)}
        problems.sort(key=lambda p: (order.get(p.file or "", -1), p.line or 0, p.col or 0))
        raise ManifestError(problems)

    stack = stack_doc.model if stack_doc is not None else None
    assert stack is None or isinstance(stack, Stack)
    resources: dict[str, Resource] = {}
    located: dict[str, ParsedDocument] = {}
    for doc in documents:
        if doc.model is None:
            continue
        located[doc.model.address] = doc.source
        if not isinstance(doc.model, Stack):
            resources[doc.model.address] = doc.model
    return Manifests(
        stack=stack,
        stack_name=stack_name,
        resources=resources,
        digest=_digest(documents),
        sources=tuple(sources),
        documents=located,
        variables=expanded.resolved.values,
        variable_sources=expanded.resolved.sources,
        warnings=tuple(advisories(documents)),
    )
