"""Torch files genbench writes: checkpoints, resume snapshots, milestone weights, the metrics' classifier and
segmenter. Each is a dict of tensors and plain values with a format tag, serialised in memory and written
atomically (identical contents give identical bytes, so a file's sha256 names its contents), and read back
with ``weights_only=True``: a foreign or damaged file is never executed, only reported in one line.
"""
from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any, Callable, TypeVar

import torch
from torch import nn

from genbench.io import InputError, write_bytes

Net = TypeVar("Net", bound=nn.Module)


def save_torch_file(path: str | Path, payload: dict[str, Any]) -> None:
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    write_bytes(path, buffer.getvalue())


def read_torch_file(path: str | Path, *, what: str, version: int, fix: str, missing: str = "", fmt: str = "",
                    map_location: torch.device | str = "cpu") -> dict[str, Any]:
    """The dict saved at ``path`` with ``format_version`` ``version`` (and ``format`` ``fmt`` when given).

    ``what`` names the kind of file in the errors, ``fix`` says how to get a good one, ``missing`` how to get
    one at all (default: ``fix``)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: {what} not found; {missing or fix}")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # truncated zip, foreign pickle: all mean "not a file we wrote"
        raise InputError(f"{path}: not a readable {what} ({type(err).__name__}); {fix}") from None
    if not isinstance(payload, dict) or payload.get("format_version") != version \
            or (fmt and payload.get("format") != fmt):
        raise InputError(f"{path}: not a {what} of format {version}; {fix}")
    return payload


def save_network(path: str | Path, model: nn.Module, info: dict[str, Any], *, fmt: str, version: int) -> None:
    """A small fixed-architecture network (a ``shape_config()`` and its weights) and an ``info`` dict.

    ``info`` goes through JSON first: a TypeError now rather than an unloadable file later (weights_only loads
    plain types only), and fresh strings, so that pickle's memo (which would share interned names such as
    'config' or 'width' with the payload's own keys) writes an info and its loaded copy as the same bytes."""
    info = json.loads(json.dumps(info))
    save_torch_file(path, {"format": fmt, "format_version": version, "config": model.shape_config(),
                           "state_dict": {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
                           "info": info})


def load_network(path: str | Path, build: Callable[..., Net], *, what: str, fmt: str, version: int,
                 device: torch.device | str) -> tuple[Net, dict[str, Any]]:
    """The network saved by ``save_network`` (``build(**config)`` then its weights), in eval mode on ``device``
    with the channels_last layout, and its info dict."""
    fix = "delete it and re-run its rule"
    payload = read_torch_file(path, what=what, version=version, fmt=fmt, fix=fix,
                              missing="run the rule that trains it", map_location=device)
    try:
        model = build(**payload["config"])
        model.load_state_dict(payload["state_dict"])
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        raise InputError(f"{path}: {what} does not match its config ({type(err).__name__}); {fix}") from None
    return model.to(device, memory_format=torch.channels_last).eval(), dict(payload["info"])
