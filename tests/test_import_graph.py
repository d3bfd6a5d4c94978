"""The package's import graph: no module imports a module that imports it back.

Every import statement counts, a function's deferred one too (deferring an import hides a cycle, it does not
remove it). Importing ``a.b.c`` first runs the packages ``a`` and ``a.b``, except those the importer is
itself inside (they are already being initialised, as a package that imports its own submodules is).
The one indirection is ``genbench.config``'s lazy re-export of ``genbench.config.validate``'s functions,
which no module needs in order to be imported.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "genbench"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    return [node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))]


def import_graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in imports(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                assert node.level == 0, f"{path}: relative import; genbench imports absolutely"
                base = node.module or ""
                targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
            for target in targets:
                parts = target.split(".")
                for i in range(1, len(parts) + 1):
                    prefix = ".".join(parts[:i])
                    if prefix in modules and prefix != name and not name.startswith(prefix + "."):
                        graph[name].add(prefix)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = 2
        path.pop()
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_the_import_graph_has_no_cycle():
    graph = import_graph()
    assert {"genbench.models", "genbench.data", "genbench.features"} <= graph["genbench.config.validate"]
    assert "genbench.config" in graph["genbench.models.base"]  # the walk sees from-imports and packages
    assert "genbench.text" in graph["genbench.cli"]  # and a function's deferred import
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_the_cycle_finder_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_config_types_import_no_registry():
    """Models, features and datasets take their config types from ``genbench.config`` without pulling in the
    registry checks, which import them."""
    graph = import_graph()
    leaves = {"genbench.config", "genbench.config.parse", "genbench.config.preset", "genbench.config.profile",
              "genbench.errors"}
    for name in leaves:
        assert graph[name] <= leaves, f"{name} imports {sorted(graph[name] - leaves)}"
    code = ("import sys, genbench.models, genbench.features, genbench.data; "
            "sys.exit('genbench.config.validate' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


def test_the_registry_checks_stay_reachable_from_the_package():
    from genbench import config
    from genbench.config import validate

    assert config.load_preset is validate.load_preset
    assert config.validate_all is validate.validate_all
    assert config.resolve_run is validate.resolve_run
