"""Generic YAML -> frozen dataclass parsing: unknown keys, wrong types, values outside a field's ``Literal`` or
its ``bounded`` limits are one-line ``ConfigError``s naming the file and the dotted key. Knows nothing of
genbench's sections. The limits are JSON-schema keywords, so ``genbench.config.schema`` writes them as they are."""
from __future__ import annotations

import dataclasses
import re
import types
import typing
from pathlib import Path
from typing import Any, Mapping

import yaml

from genbench.errors import ConfigError


def bounded(default: Any = dataclasses.MISSING, *, ge: float | None = None, gt: float | None = None,
            le: float | None = None, lt: float | None = None, min_items: int | None = None, unique: bool = False,
            pattern: str | None = None, each: Mapping[str, Any] | None = None, required: bool = False) -> Any:
    """A dataclass field with limits (>=, >, <=, <; for lists and mappings: least items, no repeats, ``each``
    item's or value's limits, see ``limits``) that ``from_dict`` enforces. ``required`` is the schema's alone: the
    merged config must name the key although code has a default (a profile's name, which its output paths are made
    of), while one file of several (``--configfile``) may leave it to another."""
    schema = limits(ge=ge, gt=gt, le=le, lt=lt, min_items=min_items, unique=unique, pattern=pattern, each=each)
    metadata = {"schema": schema, "required": required}
    if isinstance(default, (dict, list)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def limits(*, ge: float | None = None, gt: float | None = None, le: float | None = None, lt: float | None = None,
           min_items: int | None = None, unique: bool = False, pattern: str | None = None,
           each: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The JSON-schema keywords of these limits (``each``: another ``limits`` for every item or value)."""
    schema = {"minimum": ge, "exclusiveMinimum": gt, "maximum": le, "exclusiveMaximum": lt, "minItems": min_items,
              "uniqueItems": unique or None, "pattern": pattern, "items": dict(each) if each else None}
    return {k: v for k, v in schema.items() if v is not None}


def from_dict(cls: type, data: Any, *, source: str, prefix: str = "") -> Any:
    """Build dataclass ``cls`` from ``data``; unknown keys and wrong types raise ``ConfigError``."""
    where = prefix.rstrip(".") or "<top level>"
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: key '{where}' must be a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"{source}: unknown key '{prefix}{unknown[0]}' (valid keys here: {', '.join(sorted(fields))})"
        )
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, f in fields.items():
        if name in data:
            kwargs[name] = _coerce(hints[name], data[name], source=source, key=f"{prefix}{name}")
            check_limits(kwargs[name], f.metadata.get("schema", {}), source=source, key=f"{prefix}{name}")
        elif not has_default(f):
            raise ConfigError(f"{source}: missing required key '{prefix}{name}'")
    try:
        return cls(**kwargs)
    except ConfigError as err:  # a Config's own __post_init__ checks know the key, not the file
        raise ConfigError(f"{source}: {err}") from None


def has_default(f: dataclasses.Field) -> bool:
    return f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING


def check_limits(value: Any, schema: Mapping[str, Any], *, source: str, key: str) -> None:
    """``bounded``'s limits of one parsed value (the subset of JSON schema ``limits`` writes)."""
    where = f"{source}: key '{key}'"
    for word, holds, says in (("minimum", lambda v, b: v >= b, ">="), ("exclusiveMinimum", lambda v, b: v > b, ">"),
                              ("maximum", lambda v, b: v <= b, "<="), ("exclusiveMaximum", lambda v, b: v < b, "<")):
        if word in schema and not holds(value, schema[word]):
            raise ConfigError(f"{where} must be {says} {schema[word]}, got {value!r}")
    if "pattern" in schema and not re.search(schema["pattern"], value):
        raise ConfigError(f"{where} must match {schema['pattern']}, got {value!r}")
    if not isinstance(value, (tuple, Mapping)):
        return
    items = list(value.values()) if isinstance(value, Mapping) else value
    if len(items) < schema.get("minItems", 0):
        raise ConfigError(f"{where} must list at least {schema['minItems']} item(s), got {len(items)}")
    if schema.get("uniqueItems") and len(set(items)) < len(items):
        twice = next(v for i, v in enumerate(items) if v in items[:i])
        raise ConfigError(f"{where} lists {twice!r} twice")
    names = value.keys() if isinstance(value, Mapping) else (f"[{i}]" for i in range(len(items)))
    for name, item in zip(names, items):
        check_limits(item, schema.get("items", {}), source=source, key=f"{key}.{name}".replace(".[", "["))


def _coerce(tp: Any, value: Any, *, source: str, key: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, source=source, prefix=f"{key}.")
    if tp is Any:
        return value
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{source}: key '{key}' must be one of {', '.join(map(str, args))}, got {value!r}")
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{source}: key '{key}' must be a list, got {value!r}")
        item_types = [args[0]] * len(value) if (len(args) == 2 and args[1] is Ellipsis) else list(args)
        if len(item_types) != len(value):
            raise ConfigError(f"{source}: key '{key}' must have {len(item_types)} items, got {len(value)}")
        return tuple(_coerce(t, v, source=source, key=f"{key}[{i}]") for i, (t, v) in enumerate(zip(item_types, value)))
    if origin in (Mapping, dict, typing.Mapping) or (isinstance(origin, type) and issubclass(origin, Mapping)):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{source}: key '{key}' must be a mapping, got {value!r}")
        return types.MappingProxyType(
            {str(k): _coerce(args[1], v, source=source, key=f"{key}.{k}") for k, v in value.items()}
        )
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{source}: key '{key}' must be a number, got {value!r}")
        return float(value)
    if tp in (int, str, bool):
        if type(value) is not tp:
            raise ConfigError(f"{source}: key '{key}' must be {tp.__name__}, got {value!r}")
        return value
    raise TypeError(f"unsupported config type {tp!r} for {key}")  # a bug in this module, not user input


def to_dict(obj: Any) -> Any:
    """Plain JSON/YAML-serialisable form of a config dataclass (inverse of ``from_dict``)."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): to_dict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    return obj


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def read_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: file not found")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}:{line} is not valid YAML ({getattr(err, 'problem', err)})") from None
    return data or {}

