"""Hostile manifests through the real CLI, end to end.

`fwctl plan` runs as a subprocess (the real executable, the embedded control plane,
`FWCTL_ENDPOINT=local`, a temporary working directory) against a state that already holds the
applied GRPO example. Whatever the manifest — wrong types, missing and extra fields, unicode, huge
numbers and strings, deep nesting, YAML anchors and aliases including a billion-laughs document,
binary junk — every run:

* ends with exit 0, or exit 1 with located errors (FILE:LINE:COL, or at least the file named);
* never prints a traceback;
* leaves the state file byte for byte as it was;
* finishes within a time limit and under an address-space limit (RLIMIT_AS).

tests/test_manifest_fuzz.py fuzzes the loader in-process; this is the CLI as a user runs it.
"""

from __future__ import annotations

import copy
import os
import random
import resource
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

REPO = Path(__file__).resolve().parents[2]
GRPO = REPO / "manifests" / "examples" / "grpo"
GRPO_DOCS: list[Any] = [doc for path in sorted(GRPO.glob("*.yaml")) for doc in yaml.safe_load_all(path.read_text())
                        if doc is not None]
TIMEOUT_S = 30
MEMORY_LIMIT = 1536 * 2**20  # RLIMIT_AS of each fwctl run


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def _fwctl_exe() -> str:
    return shutil.which("fwctl", path=str(Path(sys.executable).parent)) or "fwctl"


@dataclass
class Workspace:
    root: Path
    state: Path
    state_bytes: bytes
    env: dict[str, str]

    def run(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([_fwctl_exe(), *args], cwd=self.root, env=self.env, capture_output=True,
                              timeout=TIMEOUT_S, preexec_fn=_limit_memory)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    root = tmp_path_factory.mktemp("badinput")
    shutil.copytree(GRPO, root / "grpo")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FIREWORKS_", "FWCTL_"))}
    env.update(FWCTL_ENDPOINT="local", FWCTL_LOCAL_SPEED="20", NO_COLOR="1", PYTHONDONTWRITEBYTECODE="1")
    applied = subprocess.run([_fwctl_exe(), "apply", "-f", "grpo", "--auto-approve"], cwd=root, env=env,
                             capture_output=True, text=True, timeout=120)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    state = root / ".fwctl" / "state.json"
    yield Workspace(root, state, state.read_bytes(), env)


def check_plan(workspace: Workspace, files: dict[str, bytes]) -> subprocess.CompletedProcess[bytes]:
    """Write `files` into a fresh manifest directory, run `fwctl plan` on it, check the invariants."""
    target = workspace.root / "hostile"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir()
    for name, data in files.items():
        (target / name).write_bytes(data)
    try:
        result = workspace.run("plan", "-f", "hostile")
    except subprocess.TimeoutExpired:
        pytest.fail(f"fwctl plan did not finish within {TIMEOUT_S}s")
    out = result.stdout + result.stderr
    shown = out[-3000:].decode(errors="replace")
    assert b"Traceback" not in out, shown
    assert result.returncode in (0, 1), f"exit {result.returncode}:\n{shown}"
    if result.returncode == 1:
        assert result.stderr.strip(), "exit 1 without an error message"
        assert b"hostile/" in result.stderr or b"hostile" + os.sep.encode() in result.stderr, \
            f"errors are not located:\n{shown}"
    assert workspace.state.read_bytes() == workspace.state_bytes, "fwctl plan changed the state"
    return result


# -- generated manifests ---------------------------------------------------------------------------

ODD_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)
HUGE_NUMBERS = st.sampled_from([10**400, -(10**400), 2**63, -(2**63) - 1, 1e308, -1e308, float("inf"),
                                float("nan"), 10**18 + 1, 0, -1])
HUGE_STRINGS = st.sampled_from(["x" * 2_000_000, "é" * 300_000, "\u202e" * 1000, "a\nb\r\n\0", "\ufeff"])
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
                    ODD_TEXT, HUGE_NUMBERS, HUGE_STRINGS,
                    st.sampled_from(["60m", "-5m", "fwctl/v1", "Trainer", "policy", "rollout", "accounts/x/models/y"]))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(ODD_TEXT, inner,
                                                                                           max_size=3),
                      max_leaves=8)


def _nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"n": [value]}
    return value


@st.composite
def mutated_stack(draw: st.DrawFn) -> bytes:
    """The GRPO example with 1-4 mutations: fields replaced, deleted, added, renamed; deep values."""
    docs = copy.deepcopy(GRPO_DOCS)
    rng = random.Random(draw(st.integers(0, 2**32)))
    for _ in range(draw(st.integers(1, 4))):
        doc = rng.choice(docs)
        node: Any = doc
        while isinstance(node, dict) and node and rng.random() < 0.6:
            child = node[rng.choice(list(node))]
            if not isinstance(child, dict) or not child:
                break
            node = child
        if not isinstance(node, dict):
            continue
        op = draw(st.sampled_from(["replace", "delete", "extra", "rename", "deep"]))
        key = rng.choice(list(node)) if node else "spec"
        if op == "replace":
            node[key] = draw(VALUES)
        elif op == "delete":
            node.pop(key, None)
        elif op == "extra":
            node[draw(ODD_TEXT) or "extra"] = draw(VALUES)
        elif op == "rename" and key in node:
            node[draw(ODD_TEXT) or key.upper()] = node.pop(key)
        else:
            node[key] = _nested(draw(st.sampled_from([20, 200, 400])))
    order = draw(st.permutations(range(len(docs))))
    allow_unicode = draw(st.booleans())
    # PyYAML's emitter recurses several frames per level: 400 levels must not depend on how deep
    # the test runner's own stack happens to be.
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 20_000))
    try:
        return yaml.safe_dump_all([docs[i] for i in order], allow_unicode=allow_unicode, width=10**6).encode()
    finally:
        sys.setrecursionlimit(limit)


@st.composite
def aliased_stack(draw: st.DrawFn) -> bytes:
    """Anchors, aliases and merge keys in the GRPO example's documents."""
    depth = draw(st.integers(1, 9))
    width = draw(st.integers(2, 9))
    lines = ["lol0: &lol0 [" + ", ".join(["lol"] * width) + "]"]
    for level in range(1, depth):
        lines.append(f"lol{level}: &lol{level} [" + ", ".join([f"*lol{level - 1}"] * width) + "]")
    where = draw(st.sampled_from(["annotations", "labels", "displayName", "merge"]))
    top = f"*lol{depth - 1}"
    if where == "merge":
        extra = f"  <<: {{x: {top}}}\n"
    elif where == "annotations":
        extra = f"  annotations: {{big: {top}}}\n"
    else:
        extra = f"  {where}: {top}\n"
    header = "apiVersion: fwctl/v1\nkind: Stack\nmetadata: {name: grpo-qwen3-8b}\nspec: {region: US_VIRGINIA_1}\n"
    body = ("apiVersion: fwctl/v1\nkind: Deployment\nmetadata: {name: rollout}\n"
            "x-anchors:\n" + "".join(f"  {line}\n" for line in lines) +
            "spec:\n  baseModel: accounts/fireworks/models/qwen3-8b\n"
            "  deploymentShape: accounts/fireworks/deploymentShapes/rft-qwen3-8b\n" + extra)
    return (header + "---\n" + body).encode()


def _junk_spliced(data: bytes, junk: bytes, at: int) -> bytes:
    at %= len(data) + 1
    return data[:at] + junk + data[at:]


@st.composite
def binary_junk(draw: st.DrawFn) -> bytes:
    base = "\n---\n".join(path.read_text() for path in sorted(GRPO.glob("*.yaml"))).encode()
    junk = draw(st.binary(min_size=1, max_size=300))
    if draw(st.booleans()):
        return junk
    return _junk_spliced(base, junk, draw(st.integers(0, 10**6)))


HOSTILE = st.one_of(mutated_stack(), mutated_stack(), aliased_stack(), binary_junk())


@settings(max_examples=30, deadline=None, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example,
                                 HealthCheck.function_scoped_fixture])
@given(data=HOSTILE)
def test_hostile_manifest_plan(workspace: Workspace, data: bytes) -> None:
    check_plan(workspace, {"stack.yaml": data})


# -- the classics, always run ------------------------------------------------------------------------

BILLION_LAUGHS = (
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    + "".join(f"{chr(ord('a') + i)}: &{chr(ord('a') + i)} [" + ",".join([f"*{chr(ord('a') + i - 1)}"] * 9) + "]\n"
              for i in range(1, 9))
)
HEADER = "apiVersion: fwctl/v1\nkind: Stack\nmetadata: {name: grpo-qwen3-8b}\nspec: {}\n---\n"
CLASSICS = {
    "billion-laughs": BILLION_LAUGHS.encode(),
    "billion-laughs-in-a-manifest": (HEADER + "apiVersion: fwctl/v1\nkind: Trainer\nmetadata: {name: policy}\n"
                                     "spec:\n  baseModel: accounts/fireworks/models/qwen3-8b\n  laughs:\n"
                                     + "".join("    " + line + "\n" for line in BILLION_LAUGHS.splitlines())
                                     + "  labels: *i\n").encode(),
    "recursive-alias": (HEADER + "apiVersion: fwctl/v1\nkind: Trainer\nmetadata: &m {name: policy, self: *m}\n"
                        "spec: {}\n").encode(),
    "deep-flow-nesting": (HEADER + "apiVersion: fwctl/v1\nkind: Trainer\nmetadata: {name: policy}\nspec: "
                          + "[" * 100_000 + "]" * 100_000 + "\n").encode(),
    "deep-block-nesting": (HEADER + "apiVersion: fwctl/v1\nkind: Trainer\nmetadata: {name: policy}\nspec:\n"
                           + "".join(" " * i + "- \n" for i in range(0, 4000, 1))).encode(),
    "huge-string": (HEADER + "apiVersion: fwctl/v1\nkind: Trainer\nmetadata: {name: policy}\nspec:\n"
                    "  baseModel: " + "q" * 20_000_000 + "\n").encode(),
    "huge-number": (HEADER + "apiVersion: fwctl/v1\nkind: Trainer\nmetadata: {name: policy}\nspec:\n"
                    "  baseModel: accounts/fireworks/models/qwen3-8b\n  replicaCount: " + "9" * 100_000 + "\n"
                    "  learningRate: 1e999999\n").encode(),
    "many-documents": ("---\napiVersion: fwctl/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {}\n" * 3_000)
    .encode(),
    "python-tags": b"!!python/object/apply:os.system ['touch pwned']\n",
    "utf16-bom": "\ufeffapiVersion: fwctl/v1\nkind: Stack\n".encode("utf-16"),
    "invalid-utf8": b"apiVersion: fwctl/v1\nkind: Stack\nmetadata: {name: \xff\xfe\xc3}\n",
    "nul-bytes": b"\0" * 4096,
    "tabs-and-controls": b"apiVersion:\tfwctl/v1\n\x1b[31mkind: Stack\x07\n",
    "unicode-names": (HEADER + "apiVersion: fwctl/v1\nkind: Trainer\nmetadata: {name: \u202epolicy\U0001f680}\n"
                      "spec: {baseModel: accounts/fireworks/models/qwen3-8b}\n").encode(),
}


@pytest.mark.parametrize("name", sorted(CLASSICS))
def test_classic_hostile_inputs(workspace: Workspace, name: str) -> None:
    result = check_plan(workspace, {"stack.yaml": CLASSICS[name]})
    assert result.returncode == 1, f"{name} was accepted:\n{result.stdout[-2000:].decode(errors='replace')}"
    assert not (workspace.root / "pwned").exists()


def test_the_applied_example_still_plans_clean(workspace: Workspace) -> None:
    """The control: the pre-existing state is intact and the original manifests plan with no changes."""
    result = workspace.run("plan", "-f", "grpo", "--detailed-exitcode")
    assert result.returncode == 0, (result.stdout + result.stderr).decode(errors="replace")
    assert workspace.state.read_bytes() == workspace.state_bytes
