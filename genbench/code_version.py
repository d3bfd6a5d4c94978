"""Which genbench source a job runs, as one checksum Snakemake can see.

Snakemake re-runs a job when its ``params`` change, but it cannot see the Python modules a job imports: after
a bug fix in ``genbench/models/dcgan.py`` it would keep the old numbers. So each rule carries
``code_version(command, family=...)``: a sha256 over the source files that command can execute, namely
``cli.py``, the modules its ``cmd_<command>`` function imports and everything those import in turn (a
function's deferred imports too), except the model families and datasets other than the job's own: their
registries import them all, but a job runs one. Editing ``genbench/models/dcgan.py`` then changes the version
of DCGAN's jobs alone; editing ``genbench/metrics/frechet.py`` that of the jobs that compute an FD.

The graph is read from the source text (``ast``), not from ``sys.modules``, so the planner needs no import of
torch and the checksum does not depend on what a process happened to import first. The planner passes a
``cache`` file: the graph is then parsed again only when a file's size or mtime changed (0.3 s -> ~10 ms).
"""
from __future__ import annotations

import ast
import functools
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from genbench.io import write_json

PACKAGE_ROOT = Path(__file__).resolve().parent
# ``@FAMILIES.register("dcgan")`` in genbench/models/dcgan.py, ``DATASETS.register("mnist")`` in data/mnist.py,
# ``EXPERIMENTS.add("walks", ...)`` in experiments/walks.py
_PLUGIN = re.compile(r"\b(FAMILIES|DATASETS|EXPERIMENTS)\.(?:register|add)\(\s*\"([\w-]+)\"")
_REGISTRIES = {"FAMILIES": "family", "DATASETS": "dataset", "EXPERIMENTS": "experiment"}


@dataclass(frozen=True)
class SourceIndex:
    """What ``code_version`` needs of the package's source, in plain types (so it can be cached as JSON)."""

    paths: dict[str, str]  # module -> its file, relative to the package root
    graph: dict[str, list[str]]  # module -> the modules it imports by name
    parents: dict[str, list[str]]  # module -> the packages its imports run first (a.b for ``import a.b.c``)
    plugins: dict[str, str]  # "family:dcgan" -> the module registering it
    commands: dict[str, list[str]]  # "train" -> the modules cli.py's cmd_train and cli.py itself import


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


def _stamp(root: Path) -> list[list]:
    return sorted([str(p.relative_to(root)), p.stat().st_size, p.stat().st_mtime_ns] for p in root.rglob("*.py"))


def _build_index(root: Path) -> SourceIndex:
    files = {module_name(path, root): path for path in root.rglob("*.py")}
    trees = {name: ast.parse(path.read_text(), str(path)) for name, path in files.items()}

    def imports(importer: str, names: set[str]) -> tuple[list[str], list[str]]:
        """(the modules named, the packages run first): ``import a.b.c`` names a.b.c and runs a and a.b, except
        those the importer lies inside (they are already being initialised)."""
        named, parents = set(), set()
        for target in names:
            prefixes = [p for p in (".".join(target.split(".")[:i]) for i in range(1, target.count(".") + 2))
                        if p in files and p != importer and not importer.startswith(p + ".")]
            named.update(prefixes[-1:])
            parents.update(prefixes[:-1])
        return sorted(named), sorted(parents - named)

    cli = f"{root.name}.cli"
    top_level = ast.Module(body=[n for n in trees[cli].body if isinstance(n, (ast.Import, ast.ImportFrom))],
                           type_ignores=[])
    commands = {node.name.removeprefix("cmd_").replace("_", "-"):
                sum(imports(cli, imported_names(top_level, root.name) | imported_names(node, root.name)), [])
                for node in trees[cli].body if isinstance(node, ast.FunctionDef) and node.name.startswith("cmd_")}
    plugins = {f"{_REGISTRIES[registry]}:{plugin}": name for name, path in files.items()
               for registry, plugin in _PLUGIN.findall(path.read_text())}
    edges = {name: imports(name, imported_names(tree, root.name)) for name, tree in trees.items()}
    return SourceIndex(paths={name: str(path.relative_to(root)) for name, path in files.items()},
                       graph={name: named for name, (named, _) in edges.items()},
                       parents={name: parents for name, (_, parents) in edges.items()},
                       plugins=plugins, commands=commands)


@functools.lru_cache(maxsize=4)
def source_index(root: Path = PACKAGE_ROOT, cache: Path | None = None) -> SourceIndex:
    """The index of the package at ``root``; with ``cache``, read from there while no file changed."""
    stamp = _stamp(root)
    if cache is not None and cache.is_file():
        try:
            data = json.loads(cache.read_text())
            if data["root"] == str(root) and data["stamp"] == stamp:
                return SourceIndex(**data["index"])
        except (ValueError, KeyError, TypeError):
            pass  # a damaged or older cache: build it again
    index = _build_index(root)
    if cache is not None:
        write_json(cache, {"root": str(root), "stamp": stamp, "index": index.__dict__})
    return index


def import_graph(root: Path = PACKAGE_ROOT) -> dict[str, frozenset[str]]:
    """module -> the package's modules importing it runs (every import statement, deferred ones too)."""
    index = source_index(root)
    return {name: frozenset(index.graph[name]) | frozenset(index.parents[name]) for name in index.graph}


def plugins(root: Path = PACKAGE_ROOT) -> dict[tuple[str, str], str]:
    """(kind, registered name) -> the module registering it: ('family', 'dcgan') -> 'genbench.models.dcgan'."""
    return {tuple(key.split(":", 1)): name for key, name in source_index(root).plugins.items()}


@functools.lru_cache(maxsize=1024)
def code_modules(command: str, *, family: str = "", dataset: str = "", experiment: str = "",
                 root: Path = PACKAGE_ROOT, cache: Path | None = None) -> frozenset[str]:
    """The modules a job of ``command`` can run: cli.py, and the closure of what ``cmd_<command>`` imports,
    where a registry's package (``genbench.models``, ``genbench.data``) leads to the job's own family and
    dataset only (cli.py's other commands are not followed: they are not this job's). A package that runs only
    because one of its submodules is imported (``genbench.metrics`` for ``genbench.metrics.fcn_score``) counts,
    but not the siblings it imports to re-export: the importer calls into the submodule it named. The
    experiments' registry finds its modules by listing its folder, not by import: ``experiment`` names the one
    module that joins the closure."""
    index = source_index(root, cache)
    if command not in index.commands:
        raise KeyError(f"genbench has no command '{command}' (no cmd_{command.replace('-', '_')} in cli.py)")
    for kind, name in (("family", family), ("experiment", experiment)):
        if name and f"{kind}:{name}" not in index.plugins:
            raise KeyError(f"no module registers {kind} '{name}'")
    own = {index.plugins.get(f"family:{family}"), index.plugins.get(f"dataset:{dataset}"),
           index.plugins.get(f"experiment:{experiment}")}
    others = set(index.plugins.values()) - own
    registry_packages = {plugin.rpartition(".")[0] for plugin in index.plugins.values()}
    cli = f"{root.name}.cli"
    named, run_first = {cli}, set()  # modules imported by name / packages run only as a submodule's parents
    pending = [(name, True) for name in index.commands[command]]
    pending += [(index.plugins[f"experiment:{experiment}"], True)] if experiment else []
    while pending:
        name, by_name = pending.pop()
        if name in named or (not by_name and name in run_first):
            continue
        (named if by_name else run_first).add(name)
        pending += [(n, True) for n in index.graph[name] if not (name in registry_packages and n in others)
                    and (by_name or not n.startswith(name + "."))]
        pending += [(n, False) for n in index.parents[name]]
    return frozenset(named | run_first)


@functools.lru_cache(maxsize=1024)
def code_version(command: str, *, family: str = "", dataset: str = "", experiment: str = "",
                 root: Path = PACKAGE_ROOT, cache: Path | None = None) -> str:
    """16 hex digits of the sha256 over the paths and bytes of ``code_modules``' files, in name order."""
    index = source_index(root, cache)
    digest = hashlib.sha256()
    for name in sorted(code_modules(command, family=family, dataset=dataset, experiment=experiment, root=root,
                                    cache=cache)):
        digest.update(f"{index.paths[name]}\0".encode())
        digest.update((root / index.paths[name]).read_bytes())
    return digest.hexdigest()[:16]
