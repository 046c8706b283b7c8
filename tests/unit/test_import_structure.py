"""The import structure: pure cores import no I/O layer, and node/ has no import cycles.

Read from the source with ``ast`` (module-level imports, not those under
``if TYPE_CHECKING:``), so a new module that breaks a rule fails here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PURE = ("credentials", "registry", "risk", "scan_attestation")
IO_LAYERS = ("flask", "werkzeug", "sqlalchemy", "alembic", "requests", "apscheduler", "node")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _runtime_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        for child in ast.walk(node):
            if isinstance(child, ast.Import):
                found.update(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                found.add(child.module)
                found.update(f"{child.module}.{alias.name}" for alias in child.names)
    return found


def _modules(package: str) -> dict[str, Path]:
    return {_module_name(p): p for p in sorted((ROOT / package).rglob("*.py"))}


@pytest.mark.parametrize("package", PURE)
def test_pure_cores_import_no_io_layer(package: str) -> None:
    offenders = {
        name: sorted(i for i in _runtime_imports(path) if i.split(".")[0] in IO_LAYERS)
        for name, path in _modules(package).items()
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_node_has_no_import_cycles() -> None:
    modules = _modules("node")
    graph = {
        name: {i for i in _runtime_imports(path) if i in modules and i != name}
        for name, path in modules.items()
    }
    # Depth-first search for a back edge; report the cycle it closes.
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(name: str) -> None:
        state[name] = 1
        stack.append(name)
        for target in sorted(graph[name]):
            if state.get(target) == 1:
                cycles.append([*stack[stack.index(target) :], target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)
    assert cycles == []


def test_blueprints_get_their_services_from_the_factory() -> None:
    # No service locator: views never look services up on current_app.
    for name, path in _modules("node/api").items():
        text = path.read_text(encoding="utf-8")
        assert 'extensions["trustlane"]' not in text, name
        assert "services()" not in text, name
