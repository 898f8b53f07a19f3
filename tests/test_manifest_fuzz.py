"""Mutated manifests are either valid or rejected with located problems, never a traceback."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.manifest import ManifestError, load_manifests

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_DOCS: list[list[Any]] = [
    [doc for path in sorted(d.glob("*.yaml")) for doc in yaml.safe_load_all(path.read_text()) if doc is not None]
    for d in sorted((ROOT / "manifests" / "examples").iterdir())
]

ODD_TEXT = st.text(
    alphabet=st.sampled_from(list("aZ-_.:/ ") + ["é", "ß", "\u200b", "\u202e", "𝔘", "😀", "\ufeff", "\t", "İ", "ǅ"]),
    max_size=12,
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    ODD_TEXT,
    st.sampled_from(["60m", "4h", "fwctl/v1", "Trainer", "policy", "rollout", "perDeployment", "accounts/x/models/y"]),
)
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(ODD_TEXT, inner, max_size=3),
                      max_leaves=6)


YAML_SNIPPETS = ["&a ", "*a", "<<: ", "- ", ": ", "{", "]", "---\n", "\t", "!!set ", "!!binary ",
                 "!!python/object:os.system ", "? ", "'", '"', "%YAML 1.1\n", "\n  ", "#"]


def _slots(node: Any, out: list[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    """Every (container, key) pair in a document tree."""
    if isinstance(node, dict):
        for key, value in node.items():
            out.append((node, key))
            _slots(value, out)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out.append((node, index))
            _slots(value, out)
    return out


def _mutate(docs: list[Any], data: st.DataObject) -> list[Any]:
    docs = copy.deepcopy(docs)
    for _ in range(data.draw(st.integers(min_value=1, max_value=4), label="mutations")):
        operation = data.draw(st.sampled_from(["drop", "retype", "rename", "reorder", "unicode", "duplicate"]))
        if operation == "reorder":
            docs = data.draw(st.permutations(docs))
            continue
        if operation == "duplicate" and docs:
            docs.append(copy.deepcopy(data.draw(st.sampled_from(docs))))
            continue
        slots = _slots(docs, [])
        if not slots:
            continue
        container, key = data.draw(st.sampled_from(slots))
        if operation == "drop":
            del container[key]
        elif operation == "retype":
            container[key] = data.draw(VALUES)
        elif operation == "rename" and isinstance(container, dict):
            container[data.draw(ODD_TEXT)] = container.pop(key)
        elif operation == "unicode" and isinstance(container[key], str):
            container[key] = container[key] + data.draw(ODD_TEXT)
    return docs


def _assert_valid_or_located(path: Path) -> None:
    try:
        load_manifests([str(path)])
    except ManifestError as exc:
        assert exc.problems
        for problem in exc.problems:
            assert problem.file == str(path), problem
            assert problem.line is not None and problem.line >= 1, problem
            assert problem.message and "\n" not in problem.message, problem
            assert "internal error" not in problem.message, problem
            assert str(problem).startswith(f"{path}:{problem.line}:"), problem


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                    HealthCheck.too_slow])
@given(example=st.sampled_from(EXAMPLE_DOCS), data=st.data())
def test_mutated_documents(tmp_path: Path, example: list[Any], data: st.DataObject) -> None:
    docs = _mutate(example, data)
    path = tmp_path / "mutated.yaml"
    path.write_text(yaml.safe_dump_all(docs, allow_unicode=True, sort_keys=False))
    _assert_valid_or_located(path)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                    HealthCheck.too_slow])
@given(example=st.sampled_from(sorted((ROOT / "manifests" / "examples").rglob("*.yaml"))), data=st.data())
def test_mutated_bytes(tmp_path: Path, example: Path, data: st.DataObject) -> None:
    raw = bytearray(example.read_bytes())
    for _ in range(data.draw(st.integers(min_value=1, max_value=3), label="edits")):
        at = data.draw(st.integers(min_value=0, max_value=len(raw)), label="at")
        edit = data.draw(st.sampled_from(["insert", "delete", "text"]))
        if edit == "insert":
            raw[at:at] = data.draw(st.binary(min_size=1, max_size=8))
        elif edit == "delete":
            del raw[at : at + data.draw(st.integers(min_value=1, max_value=20))]
        else:
            snippet = data.draw(st.sampled_from(YAML_SNIPPETS)) + data.draw(ODD_TEXT)
            raw[at:at] = snippet.encode()
    path = tmp_path / "mutated.yaml"
    path.write_bytes(bytes(raw))
    _assert_valid_or_located(path)
