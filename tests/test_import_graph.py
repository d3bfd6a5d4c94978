"""The package's import graph (``genbench.code_version.import_graph``: every import statement, a function's
deferred one too, since deferring an import hides a cycle rather than removing it): no module imports a module
that imports it back. The one indirection is ``genbench.config``'s lazy re-export of the functions of
``genbench.config.validate`` for callers outside the package; no module of genbench needs it.
"""
from __future__ import annotations

import subprocess
import sys

from genbench.code_version import PACKAGE_ROOT, import_graph

ROOT = PACKAGE_ROOT.parent


def find_cycle(graph: dict[str, frozenset[str]]) -> list[str] | None:
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


def test_images_sit_below_every_other_layer_and_only_the_cli_reaches_the_report():
    """``genbench.images`` (to_uint8, grids, figure PNGs) imports nothing of genbench but its I/O, so any layer
    may use it; jobs take those helpers from it, not from the training job or the report; and nothing but the CLI
    and the report itself imports ``genbench.report``."""
    graph = import_graph()
    assert graph["genbench.images"] <= {"genbench.io"}, sorted(graph["genbench.images"])
    for module, imports in graph.items():
        if not (module.startswith("genbench.report") or module == "genbench.cli"):
            assert not {i for i in imports if i.startswith("genbench.report")}, f"{module} imports the report"
    takes_helpers = {m for m, imports in graph.items() if "genbench.images" in imports}
    assert {"genbench.jobs.sample", "genbench.jobs.translate", "genbench.experiments.jobs", "genbench.jobs.memorisation",
            "genbench.jobs.train"} <= takes_helpers


def test_the_report_reads_family_kinds_from_the_result_files_not_the_registry():
    """The report groups rows by family kind and label kind as each run's train_summary.json recorded them; only
    the reference rows' paper-settings note still resolves the defaults of config keys a run's config.yaml leaves
    out through the family's Config (the way out: the train job records the resolved model config)."""
    graph = import_graph()
    for module, imports in graph.items():
        if module.startswith("genbench.report") and module != "genbench.report.paper_settings":
            assert not {i for i in imports if i.startswith("genbench.models")}, f"{module} imports the model registry"
