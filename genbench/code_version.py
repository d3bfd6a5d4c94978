"""Which genbench source a job runs, as one checksum Snakemake can see.

Snakemake re-runs a job when its ``params`` change, but it cannot see the Python modules a job imports: after
a bug fix in ``genbench/models/dcgan.py`` it would keep the old numbers. So each rule carries
``code_version(command, family=...)``: a sha256 over the source files that command can execute, namely
``cli.py``, the modules its ``cmd_<command>`` function imports and everything those import in turn (a
function's deferred imports too), except the model families and datasets other than the job's own: their
registries import them all, but a job runs one. Editing ``genbench/models/dcgan.py`` then changes the version
of DCGAN's jobs alone; editing ``genbench/metrics/frechet.py`` that of the jobs that compute an FD.

The graph is read from the source text (``ast``), not from ``sys.modules``, so the planner needs no import of
torch and the checksum does not depend on what a process happened to import first.
"""
from __future__ import annotations

import ast
import functools
import hashlib
import re
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parent
# ``@FAMILIES.register("dcgan")`` in genbench/models/dcgan.py, ``DATASETS.register("mnist")`` in data/mnist.py
_PLUGIN = re.compile(r"\b(FAMILIES|DATASETS)\.register\(\s*\"([\w-]+)\"")
_REGISTRIES = {"FAMILIES": "family", "DATASETS": "dataset"}


def module_name(path: Path, root: Path) -> str:
    parts = (root.name, *path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_names(tree: ast.AST, package: str) -> set[str]:
    """Every module name an import statement anywhere in ``tree`` names, with each ``from X import y`` giving
    both ``X`` and ``X.y`` (``y`` may be a submodule); names outside ``package`` are dropped."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in names if name == package or name.startswith(package + ".")}


@functools.lru_cache(maxsize=4)
def _sources(root: Path) -> dict[str, tuple[Path, ast.Module]]:
    return {module_name(path, root): (path, ast.parse(path.read_text(), str(path))) for path in root.rglob("*.py")}


@functools.lru_cache(maxsize=4)
def import_graph(root: Path = PACKAGE_ROOT) -> dict[str, frozenset[str]]:
    """module -> the package's modules importing it runs. Importing ``a.b.c`` runs the packages ``a`` and
    ``a.b`` first, except those the importer lies inside (they are already being initialised)."""
    sources = _sources(root)
    graph = {}
    for name, (_, tree) in sources.items():
        edges = set()
        for target in imported_names(tree, root.name):
            parts = target.split(".")
            for i in range(1, len(parts) + 1):
                prefix = ".".join(parts[:i])
                if prefix in sources and prefix != name and not name.startswith(prefix + "."):
                    edges.add(prefix)
        graph[name] = frozenset(edges)
    return graph


@functools.lru_cache(maxsize=4)
def plugins(root: Path = PACKAGE_ROOT) -> dict[tuple[str, str], str]:
    """(kind, registered name) -> the module registering it: ('family', 'dcgan') -> 'genbench.models.dcgan'."""
    found = {}
    for name, (path, _) in _sources(root).items():
        for registry, plugin in _PLUGIN.findall(path.read_text()):
            found[(_REGISTRIES[registry], plugin)] = name
    return found


def command_entries(command: str, root: Path = PACKAGE_ROOT) -> set[str]:
    """The modules ``genbench <command>`` starts from: cli.py's own imports and those of ``cmd_<command>``."""
    cli = _sources(root)[f"{root.name}.cli"][1]
    function = f"cmd_{command.replace('-', '_')}"
    body = next((node for node in cli.body if isinstance(node, ast.FunctionDef) and node.name == function), None)
    if body is None:
        raise KeyError(f"genbench has no command '{command}' (no {function} in cli.py)")
    top_level = ast.Module(body=[node for node in cli.body if isinstance(node, (ast.Import, ast.ImportFrom))],
                           type_ignores=[])
    graph = import_graph(root)
    return {f"{root.name}.cli"} | {name for name in imported_names(top_level, root.name) | imported_names(
        body, root.name) if name in graph}


@functools.lru_cache(maxsize=1024)
def code_modules(command: str, *, family: str = "", dataset: str = "", root: Path = PACKAGE_ROOT) -> frozenset[str]:
    """The modules a job of ``command`` can run: the closure of its entries, where a registry's package
    (``genbench.models``, ``genbench.data``) leads to the job's own family and dataset only."""
    graph, registered = import_graph(root), plugins(root)
    own = {registered[key] for key in (("family", family), ("dataset", dataset)) if key in registered}
    if family and ("family", family) not in registered:
        raise KeyError(f"no module registers model family '{family}'")
    others = set(registered.values()) - own
    cli = f"{root.name}.cli"
    seen, pending = {cli}, list(command_entries(command, root) - {cli})  # cli.py's other commands: not this job's
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        registry_package = any(plugin.rpartition(".")[0] == name for plugin in registered.values())
        pending += [nxt for nxt in graph[name] if not (registry_package and nxt in others)]
    return frozenset(seen)


def code_version(command: str, *, family: str = "", dataset: str = "", root: Path = PACKAGE_ROOT) -> str:
    """16 hex digits of the sha256 over the paths and bytes of ``code_modules``' files, in name order."""
    digest = hashlib.sha256()
    sources = _sources(root)
    for name in sorted(code_modules(command, family=family, dataset=dataset, root=root)):
        path = sources[name][0]
        digest.update(f"{path.relative_to(root)}\0".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]
