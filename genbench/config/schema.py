"""The JSON schema of a profile, written from ``ProfileConfig``'s annotations and ``bounded`` limits: the
dataclasses are the one definition, ``workflow/schemas/params.schema.yaml`` (what Snakemake validates against)
is generated from them. Regenerate it after changing a profile section:

    python -m genbench.config.schema --write

``tests/test_config.py`` fails while the committed file differs from what this writes."""
from __future__ import annotations

import argparse
import dataclasses
import re
import sys
import typing
from pathlib import Path
from typing import Any, Mapping

import yaml

from genbench.config.parse import has_default
from genbench.config.profile import ProfileConfig

SCHEMA_PATH = Path("workflow/schemas/params.schema.yaml")
HEADER = ("# Generated from the dataclasses of genbench/config/profile.py and genbench/experiments/ by\n"
          "# `python -m genbench.config.schema --write`;\n"
          "# do not edit by hand (tests/test_config.py checks that it is current).\n")
_SCALARS = {int: "integer", float: "number", bool: "boolean", str: "string"}


def json_schema(cls: type) -> dict[str, Any]:
    """The JSON schema (draft 2020-12) of dataclass ``cls`` as ``genbench.config.parse.from_dict`` reads it."""
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "description": f"A genbench profile (params/*.yaml), checked first by {cls.__name__}, which names the "
                           "file and key on error; Snakemake validates the merged config against this copy.",
            **{k: v for k, v in _object(cls).items() if k != "description"}}


def _object(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    fields = dataclasses.fields(cls)
    schema: dict[str, Any] = {"type": "object", "additionalProperties": False, "properties": {
        f.name: {**_type(hints[f.name]), **_merge_items(_type(hints[f.name]), f.metadata.get("schema", {}))}
        for f in fields}}
    required = [f.name for f in fields if f.metadata.get("required") or not has_default(f)]
    if required:
        schema["required"] = required
    return {"description": _summary(cls), **schema} if _summary(cls) else schema


def _summary(cls: type) -> str:
    """The first sentence of a section's docstring (not the signature dataclass writes where there is none)."""
    doc = " ".join((cls.__doc__ or "").split())
    return "" if doc.startswith(f"{cls.__name__}(") else re.split(r"\.\s+(?=[A-Z])", doc)[0].rstrip(".")


def _merge_items(base: Mapping[str, Any], limits: Mapping[str, Any]) -> dict[str, Any]:
    """``each``'s limits go onto the item (array) or value (mapping) schema the type gave."""
    out = {k: v for k, v in limits.items() if k != "items"}
    if "items" in limits:
        slot = "items" if base.get("type") == "array" else "additionalProperties"
        out[slot] = {**base[slot], **limits["items"]}
    return out


def _type(tp: Any) -> dict[str, Any]:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        return _object(tp)
    if tp is Any:
        return {}
    if origin is typing.Literal:
        return {"enum": list(args)}
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return {"type": "array", "items": _type(args[0])}
        return {"type": "array", "prefixItems": [_type(a) for a in args], "minItems": len(args),
                "maxItems": len(args)}
    if origin is not None and issubclass(origin, Mapping):
        values = _type(args[1])
        return {"type": "object", "additionalProperties": values} if values else {"type": "object"}
    return {"type": _SCALARS[tp]}


def experiments_schema(sections: Mapping[str, type]) -> dict[str, Any]:
    """``experiments:``: each registered experiment's section (``{name: its config dataclass}``); another name
    may be a plugin's (``GENBENCH_PLUGINS``), which ``genbench.experiments.validate_experiments`` checks."""
    return {"type": "object", "description": "One section per experiment (genbench.experiments)",
            "properties": {name: _object(sections[name]) for name in sorted(sections)},
            "additionalProperties": {"type": "object"}}


def render(cls: type = ProfileConfig, experiments: Mapping[str, type] | None = None) -> str:
    """The schema of ``cls``; of ``ProfileConfig`` with ``experiments`` (see ``experiments_schema``)."""
    schema = json_schema(cls)
    if experiments is not None:
        schema["properties"]["experiments"] = experiments_schema(experiments)
    return HEADER + yaml.safe_dump(schema, sort_keys=False, default_flow_style=None, width=120)


def render_profile() -> str:
    """The committed file: ``ProfileConfig`` with the built-in experiments' sections. The one function here
    that imports the experiments (and so torch)."""
    from genbench.experiments import registered

    experiments = registered()
    built_in = [name for name in experiments if experiments.get(name).run.__module__.startswith("genbench.")]
    return render(ProfileConfig, {name: experiments.get(name).config for name in built_in})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m genbench.config.schema", description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help=f"rewrite {SCHEMA_PATH} (run from the repository root)")
    args = parser.parse_args(argv)
    if args.write:
        SCHEMA_PATH.write_text(render_profile())
    else:
        sys.stdout.write(render_profile())
    return 0


if __name__ == "__main__":
    sys.exit(main())
