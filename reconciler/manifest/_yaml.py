"""YAML text -> plain data per document, with the 1-based position of every key and list item.

Defensive by design: input size, nesting depth and the size of alias expansions are bounded
("billion laughs"), recursive aliases and duplicate keys are reported, and every YAML, decoding
or construction error becomes a located :class:`Problem` instead of a traceback.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from reconciler.model.problems import Problem

#: Largest manifest file read (bytes).
MAX_FILE_BYTES = 4 * 1024 * 1024
#: Largest document after alias expansion (YAML nodes).
MAX_EXPANDED_NODES = 50_000
#: Deepest nesting of mappings and lists in a document.
MAX_DEPTH = 64
# Documents per file: parsing costs ~1 ms per small document on the pure-Python reader, so a 4 MiB
# file of tiny documents would otherwise take minutes. Far above any real stack.
MAX_DOCUMENTS = 5_000
_SEPARATOR = re.compile(r"^---(?:[ \t]|$)", re.MULTILINE)

#: A path of mapping keys and list indices under a document, all as strings.
Path = tuple[str, ...]
#: 1-based (line, column).
Position = tuple[int, int]

_MERGE_TAG = "tag:yaml.org,2002:merge"


def _loader_class(base: type[Any]) -> type[Any]:
    class Loader(base):  # type: ignore[misc, valid-type]
        pass

    # YAML 1.1 reads 1e-5 as a string; manifests mean a number (YAML 1.2 does too).
    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
        list("-+0123456789"),
    )
    return Loader


_PyLoader = _loader_class(yaml.SafeLoader)
_CLoader = _loader_class(getattr(yaml, "CSafeLoader", yaml.SafeLoader))


@dataclass
class ParsedDocument:
    """One YAML document: its data and where each key and list item is."""

    file: str
    position: Position
    data: Any
    positions: dict[Path, Position] = field(default_factory=dict)
    #: Where each scalar value's text begins (inside the quotes of a quoted one): ``${...}`` references.
    values: dict[Path, Position] = field(default_factory=dict)

    def locate(self, path: Path) -> Position:
        """The position of ``path``, or of its closest ancestor that exists in the text."""
        for end in range(len(path), 0, -1):
            found = self.positions.get(path[:end])
            if found is not None:
                return found
        return self.position


@dataclass
class ParsedFile:
    name: str
    text: str
    documents: list[ParsedDocument]
    problems: list[Problem]


def _problem(file: str, position: Position | None, message: str) -> Problem:
    line, col = position if position is not None else (None, None)
    return Problem(file, line, col, None, None, message)


def _mark(mark: Any) -> Position:
    return (mark.line + 1, mark.column + 1)


def _position_of_index(text: str, index: int) -> Position:
    index = max(0, min(index, len(text)))
    line = text.count("\n", 0, index) + 1
    col = index - (text.rfind("\n", 0, index) + 1) + 1
    return (line, col)


def decode(name: str, raw: bytes) -> tuple[str | None, Problem | None]:
    """UTF-8 text (a BOM is dropped), or a located problem for binary or oversized input."""
    if len(raw) > MAX_FILE_BYTES:
        return None, _problem(name, None, f"file too large ({len(raw)} bytes; the limit is {MAX_FILE_BYTES})")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        col = exc.start - (before.rfind(b"\n") + 1) + 1
        return None, _problem(name, (line, col), f"not UTF-8 text (byte 0x{raw[exc.start]:02x}); is this a binary file?")
    return text, None


def _children(node: Node) -> Iterator[Node]:
    if isinstance(node, MappingNode):
        for key, value in node.value:
            yield key
            yield value
    elif isinstance(node, SequenceNode):
        yield from node.value


def _check_tree(file: str, root: Node) -> tuple[list[Problem], list[Problem]]:
    """Bound depth and expanded size and refuse recursive aliases (fatal for the document);
    report duplicate keys (not fatal: the last one wins, as YAML loaders do)."""
    grey, black = 1, 2
    state: dict[int, int] = {id(root): grey}
    size: dict[int, int] = {}
    problems: list[Problem] = []
    stack: list[tuple[Node, Iterator[Node]]] = [(root, _children(root))]
    problems += _duplicate_keys(file, root)
    while stack:
        node, children = stack[-1]
        child = next(children, None)
        if child is None:
            stack.pop()
            state[id(node)] = black
            total = 1 + sum(size[id(c)] for c in _children(node))
            if total > MAX_EXPANDED_NODES:
                message = f"document too large: more than {MAX_EXPANDED_NODES} nodes once aliases are expanded"
                return [_problem(file, _mark(root.start_mark), message)], problems
            size[id(node)] = total
            continue
        seen = state.get(id(child))
        if seen == black:
            continue
        if seen == grey:
            return [_problem(file, _mark(child.start_mark), "recursive alias: a node contains itself")], problems
        if len(stack) >= MAX_DEPTH:
            return [_problem(file, _mark(child.start_mark), f"nested more than {MAX_DEPTH} levels deep")], problems
        state[id(child)] = grey
        problems += _duplicate_keys(file, child)
        stack.append((child, _children(child)))
    return [], problems


def _duplicate_keys(file: str, node: Node) -> list[Problem]:
    if not isinstance(node, MappingNode):
        return []
    problems: list[Problem] = []
    first: dict[str, Position] = {}
    for key, _value in node.value:
        if not isinstance(key, ScalarNode) or key.tag == _MERGE_TAG:
            continue
        where = _mark(key.start_mark)
        if key.value in first:
            line, _col = first[key.value]
            problems.append(_problem(file, where, f"duplicate key '{key.value}' (first at line {line})"))
        else:
            first[key.value] = where
    return problems


def _index_positions(root: Node) -> dict[Path, Position]:
    """Path -> position of the key (mappings) or item (lists). Run after construction (merged keys)."""
    positions: dict[Path, Position] = {}
    stack: list[tuple[Path, Node]] = [((), root)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, MappingNode):
            entries = [(key, value) for key, value in node.value if isinstance(key, ScalarNode)]
            for key, value in reversed(entries):  # later keys win, as in construction
                child = (*path, str(key.value))
                if child not in positions:
                    positions[child] = _mark(key.start_mark)
                    stack.append((child, value))
        elif isinstance(node, SequenceNode):
            for index, item in enumerate(node.value):
                child = (*path, str(index))
                positions[child] = _mark(item.start_mark)
                stack.append((child, item))
    return positions


def _describe_yaml_error(exc: yaml.MarkedYAMLError, prefix: str) -> tuple[Position | None, str]:
    """Where and what, in one line: the problem's position, and where the construct began if elsewhere."""
    mark = exc.problem_mark or exc.context_mark
    context = exc.context or ""
    started, stopped = exc.context_mark, exc.problem_mark
    if context and started is not None and stopped is not None and started.line != stopped.line:
        context += f" (started at line {started.line + 1})"
    what = ": ".join(part for part in (context, exc.problem) if part) or "invalid YAML"
    return (_mark(mark) if mark is not None else None), f"{prefix}: {what}"


def _codepoint(character: Any) -> str:
    code = character if isinstance(character, int) else ord(str(character)[:1] or "\0")
    return f"U+{code:04X}"


def _safe_for_c_parser(text: str) -> bool:
    # libyaml's composer recurses in C and can overflow the stack on absurd nesting. Nesting is
    # bounded by the indentation (line length) plus the flow brackets: keep both small for C.
    longest = max((len(line) for line in text.splitlines()), default=0)
    return longest <= 1000 and text.count("[") + text.count("{") <= 1000


def parse(name: str, text: str) -> ParsedFile:
    """Every document of ``text``; YAML errors become problems (documents before them are kept)."""
    parsed = ParsedFile(name, text, [], [])
    separators = len(_SEPARATOR.findall(text))
    if separators > MAX_DOCUMENTS:
        parsed.problems.append(_problem(
            name, None, f"too many documents ({separators}; the limit is {MAX_DOCUMENTS} per file): split the file"))
        return parsed
    loader_class = _CLoader if _safe_for_c_parser(text) else _PyLoader
    try:
        loader = loader_class(text)  # the pure-Python reader checks every character here, up front
    except yaml.reader.ReaderError as exc:
        parsed.problems.append(_unacceptable(name, text, exc))
        return parsed
    try:
        nodes: list[Node] = []
        try:
            while loader.check_node():
                nodes.append(loader.get_node())
        except yaml.MarkedYAMLError as exc:
            parsed.problems.append(_problem(name, *_describe_yaml_error(exc, "YAML syntax error")))
        except yaml.reader.ReaderError as exc:
            parsed.problems.append(_unacceptable(name, text, exc))
        except yaml.YAMLError as exc:
            parsed.problems.append(_problem(name, None, f"YAML error: {exc}"))
        except RecursionError:
            parsed.problems.append(_problem(name, None, "YAML nested too deeply"))
        for node in nodes:
            document = _document(name, loader, node, parsed.problems)
            if document is not None:
                parsed.documents.append(document)
    finally:
        loader.dispose()
    return parsed


def _unacceptable(name: str, text: str, exc: yaml.reader.ReaderError) -> Problem:
    return _problem(
        name,
        _position_of_index(text, exc.position),
        f"unacceptable character {_codepoint(exc.character)} in YAML (control characters are not allowed)",
    )


def _document(name: str, loader: Any, node: Node, problems: list[Problem]) -> ParsedDocument | None:
    fatal, duplicates = _check_tree(name, node)
    problems += fatal + duplicates
    if fatal:
        return None
    try:
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        where, message = _describe_yaml_error(exc, "YAML error")
        problems.append(_problem(name, where or _mark(node.start_mark), message))
        return None
    except (ValueError, TypeError, OverflowError, RecursionError, yaml.YAMLError) as exc:
        problems.append(_problem(name, _mark(node.start_mark), f"YAML error: {exc}"))
        return None
    if data is None:
        return None  # an empty document, e.g. after a trailing '---'
    return ParsedDocument(name, _mark(node.start_mark), data, _index_positions(node), _value_positions(node))


def _value_positions(root: Node) -> dict[Path, Position]:
    """Path -> where a scalar's text begins, for the scalars that hold ``${`` (references)."""
    found: dict[Path, Position] = {}
    stack: list[tuple[Path, Node]] = [((), root)]
    seen: set[int] = set()
    while stack:
        path, node = stack.pop()
        if isinstance(node, ScalarNode):
            if "${" in str(node.value):
                line, col = _mark(node.start_mark)
                found[path] = (line, col + (1 if node.style in ("'", '"') else 0))
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, MappingNode):
            stack += [((*path, str(k.value)), v) for k, v in node.value if isinstance(k, ScalarNode)]
        elif isinstance(node, SequenceNode):
            stack += [((*path, str(i)), item) for i, item in enumerate(node.value)]
    return found
