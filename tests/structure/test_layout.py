"""The layout DESIGN §5 promises: each library at one edge, kinds in one place, an acyclic core.

These read the source (imports and names), so a change that breaks the structure fails here with
the file and line to fix, not later as a cost nobody sees.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from reconciler.kinds import KINDS
from reconciler.kinds.deployment import PATCHABLE
from reconciler.model.resources import RESOURCE_KINDS
from reconciler.provider._wire import DEPLOYMENT_UPDATE_PATHS

ROOT = Path(__file__).resolve().parents[2] / "reconciler"

# library (top-level module) -> the package (under reconciler/) that alone may import it
EDGES = {
    "httpx": "provider",
    "click": "cli",
    "psycopg": "state",
    "yaml": "manifest",
    "starlette": "local",
    "uvicorn": "local",
}
# The local control plane is an independent peer: it serves HTTP with its own stack.
ALSO_ALLOWED = {("httpx", "local")}


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def _package(path: Path) -> str:
    rel = path.relative_to(ROOT)
    return rel.parts[0].removesuffix(".py") if rel.parts else ""


SOURCES = sorted(ROOT.rglob("*.py"))


def test_each_library_is_imported_at_its_edge_only() -> None:
    wrong = []
    for path in SOURCES:
        package = _package(path)
        for line, module in _imports(path):
            top = module.split(".")[0]
            edge = EDGES.get(top)
            if edge and package != edge and (top, package) not in ALSO_ALLOWED:
                wrong.append(f"{path.relative_to(ROOT.parent)}:{line}: imports {top} (belongs in reconciler/{edge}/)")
    assert not wrong, "\n".join(wrong)


def test_kind_modules_import_neither_planner_nor_executor() -> None:
    engine = ("reconciler.planner", "reconciler.executor", "reconciler.refresh", "reconciler.status",
              "reconciler.drift", "reconciler.orphans", "reconciler.graph", "reconciler.operations",
              "reconciler.cli")
    wrong = [f"{path.name}:{line}: {module}"
             for path in sorted((ROOT / "kinds").glob("*.py"))
             for line, module in _imports(path) if module.startswith(engine)]
    assert not wrong, "\n".join(wrong)


def test_the_emulator_and_the_provider_meet_only_over_http() -> None:
    wrong = []
    for path in SOURCES:
        package = _package(path)
        for line, module in _imports(path):
            if (package == "local" and module.startswith("reconciler.provider")) or (
                    package == "provider" and module.startswith("reconciler.local")):
                wrong.append(f"{path.relative_to(ROOT.parent)}:{line}: {module}")
    assert not wrong, "\n".join(wrong)


def test_no_kind_dispatch_outside_the_kinds() -> None:
    """No `kind == "Trainer"` chains or isinstance over resource models in the engine."""
    models = {"Trainer", "ReferenceTrainer", "Deployment", "SyncBinding"}
    wrong = []
    for path in SOURCES:
        if _package(path) in ("kinds", "model", "local"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and node.value in models:
                wrong.append(f"{path.relative_to(ROOT.parent)}:{node.lineno}: the kind name {node.value!r}")
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "isinstance"
                    and len(node.args) == 2):
                names = {n.id for n in ast.walk(node.args[1]) if isinstance(n, ast.Name)}
                if names & models:
                    wrong.append(f"{path.relative_to(ROOT.parent)}:{node.lineno}: isinstance over {sorted(names)}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("path", [p for p in SOURCES if _package(p) != "local"],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_outside_the_emulator_exceeds_500_lines(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= 500, f"{path.relative_to(ROOT.parent)} has {lines} lines; split it by concept"


def test_every_resource_kind_has_a_kind_module() -> None:
    assert set(KINDS) == set(RESOURCE_KINDS)


def test_the_wire_can_patch_exactly_what_the_deployment_kind_calls_patchable() -> None:
    assert set(DEPLOYMENT_UPDATE_PATHS) == set(PATCHABLE)


def test_every_mutating_provider_method_is_a_provider_method() -> None:
    """--parallelism bounds the methods named in MUTATING: a misspelt or removed name would leave a
    mutating call unbounded without anyone noticing."""
    from reconciler.provider.base import MUTATING, Provider

    methods = {name for name in vars(Provider) if not name.startswith("_")}
    assert methods >= MUTATING, MUTATING - methods
    assert {m for m in methods if m.startswith(("create_", "update_", "delete_", "resume_"))} <= MUTATING
