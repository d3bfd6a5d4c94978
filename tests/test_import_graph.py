"""The package's import graph (``genbench.code_version.import_graph``: every import statement, a function's
deferred one too, since deferring an import hides a cycle rather than removing it): no module imports a module
that imports it back, and none imports a module of a higher layer (``LAYERS``). The one indirection is ``genbench.config``'s lazy re-export of the functions of
``genbench.config.validate`` for callers outside the package; no module of genbench needs it.
"""
from __future__ import annotations

import subprocess
import sys

import pytest

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


# The layers, lowest first: a module imports modules of its own layer and of the layers below it, never above, so
# the report and the CLI can change without touching a job, and a job without touching a model. A pattern ending in
# ".*" is a package with its submodules; every genbench module matches exactly one pattern.
LAYERS = {
    # plain helpers: errors, file I/O, registries, config types (not the registry checks), images, code versions
    "base": ("genbench", "genbench.errors", "genbench.io", "genbench.registry", "genbench.device", "genbench.torch_io",
             "genbench.images", "genbench.inputs", "genbench.code_version", "genbench.config", "genbench.config.parse",
             "genbench.config.preset", "genbench.config.profile"),
    "metrics": ("genbench.metrics.*",),  # pure functions over arrays
    # what a job runs: datasets, feature networks, model families, samplers, text encoder, and the config's
    # registry checks (they import the registries)
    "algorithms": ("genbench.data.*", "genbench.features.*", "genbench.models.*", "genbench.samplers.*",
                   "genbench.text.*", "genbench.config.validate"),
    "train": ("genbench.train.*",),  # the generic loop, checkpoints, EMA, resume snapshots
    # read files, run a model, write outputs, track: the pipeline's jobs and the experiments on checkpoints
    "jobs": ("genbench.jobs.*", "genbench.experiments.*", "genbench.tracking"),
    # what people and the Snakefile run: the CLI (parses, dispatches), the report (reads result files), the worker,
    # and the schema writer (``python -m genbench.config.schema``: every section's dataclass, the experiments' too)
    "top": ("genbench.cli", "genbench.launcher", "genbench.worker", "genbench.recovery", "genbench.report.*",
            "genbench.config.schema"),
}
RANK = {layer: rank for rank, layer in enumerate(LAYERS)}


def _matches(module: str, pattern: str) -> bool:
    package = pattern.removesuffix(".*")
    return module == package or (pattern.endswith(".*") and module.startswith(package + "."))


def layers_of(module: str) -> list[str]:
    return [layer for layer, patterns in LAYERS.items() if any(_matches(module, p) for p in patterns)]


def upward_imports(graph: dict[str, frozenset[str]], layer: str) -> list[str]:
    """``"genbench.x (jobs) imports genbench.cli (top)"`` for each import of a module of ``layer`` from a higher one."""
    return [f"{module} ({layer}) imports {imported} ({layers_of(imported)[0]})"
            for module in sorted(graph) if layers_of(module) == [layer]
            for imported in sorted(graph[module]) if RANK[layers_of(imported)[0]] > RANK[layer]]


def test_every_module_sits_in_exactly_one_layer():
    misplaced = [f"{module}: {layers_of(module) or 'no layer'}" for module in sorted(import_graph())
                 if len(layers_of(module)) != 1]
    assert not misplaced, "put each in one layer of LAYERS (tests/test_import_graph.py):\n" + "\n".join(misplaced)


@pytest.mark.parametrize("layer", list(LAYERS))
def test_no_module_imports_a_higher_layer(layer: str):
    found = upward_imports(import_graph(), layer)
    assert not found, "move what both need down to the lower layer:\n" + "\n".join(found)


def test_an_upward_import_is_caught():
    graph = {"genbench.metrics.frechet": frozenset({"genbench.jobs.evaluate"}), "genbench.jobs.evaluate": frozenset()}
    assert upward_imports(graph, "metrics") == [
        "genbench.metrics.frechet (metrics) imports genbench.jobs.evaluate (jobs)"]
    assert layers_of("genbench.config.validate") == ["algorithms"] and layers_of("genbench.configs") == []


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
    assert {"genbench.jobs.sample", "genbench.jobs.translate", "genbench.experiments.steering",
            "genbench.jobs.memorisation", "genbench.jobs.train"} <= takes_helpers


def test_the_report_reads_result_files_not_the_models_or_the_jobs():
    """The report groups rows by the family kind and label kind each run's train_summary.json recorded, and reads
    the paper settings' keys from its config.yaml: it imports the base layer, the metric maths and the prepared
    datasets (hype.html shows real images), never a model, a sampler, the training code, a job or MLflow."""
    graph = import_graph()
    readable = [*LAYERS["base"], *LAYERS["metrics"], "genbench.data.*", "genbench.report.*"]
    for module in sorted(m for m in graph if _matches(m, "genbench.report.*")):
        unread = sorted(i for i in graph[module] if not any(_matches(i, p) for p in readable))
        assert unread == [], f"{module} imports {', '.join(unread)}"
