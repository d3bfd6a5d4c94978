"""LPIPS, the learned perceptual image patch similarity of Zhang et al. 2018, "The Unreasonable Effectiveness
of Deep Features as a Perceptual Metric" (https://arxiv.org/abs/1801.03924), VGG variant, version 0.1.

For images x0, x1 in [-1, 1], with VGG16 activations f^l at relu1_2, relu2_2, relu3_3, relu4_3, relu5_3
(eq. 1 of the paper)::

    d(x0, x1) = sum_l  mean_{h,w}  sum_c  w^l_c (fhat^l_0 - fhat^l_1)^2_{hwc},   fhat = f / (||f||_channels + 1e-10)

with non-negative per-channel weights w^l: exactly ``lpips.LPIPS(net="vgg", version="0.1")``'s forward. The
backbone is ``genbench.features.vgg``'s; the weights w come from the PyPI wheel ``lpips==0.1.4`` (BSD-2),
member ``lpips/weights/v0.1/vgg.pth`` (a torch state dict, read with ``weights_only=True``), converted once to
``.cache/weights/lpips_vgg_v0.1.safetensors`` (sha256 pinned below).
"""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

from genbench.features.vgg import (DEFAULT_CACHE, DEFAULT_WEIGHTS, VGG16Features, fetch_converted, load_vgg16,
                                   read_pinned_safetensors, safetensors_bytes)
from genbench.io import InputError

__all__ = ["LPIPS", "LPIPS_LAYERS", "convert_heads", "fetch_lpips_heads", "load_lpips", "lpips_distances", "to_input"]

PACKAGE, VERSION = "lpips", "0.1.4"
WHEEL = "lpips-0.1.4-py3-none-any.whl"
WHEEL_SHA256 = "fd537af5828b69d2e6ffc0a397bd506dbc28ca183543617690844c08e102ec5e"
MEMBER = "lpips/weights/v0.1/vgg.pth"
HEADS_FILE = "lpips_vgg_v0.1.safetensors"
HEADS_SHA256 = "c15d14fbb391ff6cf2ad040ca4b9bc0bf9918657630aa0c303cf50c5c2604566"
SOURCE = f"PyPI {PACKAGE}=={VERSION}: {MEMBER}"
LPIPS_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")
CHANNELS = (64, 128, 256, 512, 512)
_EPS = 1e-10  # lpips.normalize_tensor's


def _unit_normalise(f: torch.Tensor) -> torch.Tensor:
    return f / (f.square().sum(dim=1, keepdim=True).sqrt() + _EPS)


class LPIPS(nn.Module):
    """``forward(x0, x1)``: (N,) LPIPS distances of two RGB batches (N, 3, H, W) in [-1, 1].

    ``lins.k`` is the 1x1 conv head on ``LPIPS_LAYERS[k]``. Untrained, the heads are all ones (the paper's
    "baseline": plain channel sums); ``load_lpips`` gives the learned ones. Frozen like the backbone.
    """

    def __init__(self, vgg: VGG16Features | None = None) -> None:
        super().__init__()
        self.net = VGG16Features() if vgg is None else vgg
        self.lins = nn.ModuleList(nn.Conv2d(c, 1, 1, bias=False) for c in CHANNELS)
        for head in self.lins:
            nn.init.ones_(head.weight)
        self.requires_grad_(False)

    def forward(self, x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
        if x0.shape != x1.shape:
            raise ValueError(f"LPIPS compares two batches of one shape, got {tuple(x0.shape)} and {tuple(x1.shape)}")
        feats = self.net(torch.cat([x0, x1]), LPIPS_LAYERS)  # one pass over both batches
        total = torch.zeros(len(x0), device=x0.device, dtype=x0.dtype)
        for head, name in zip(self.lins, LPIPS_LAYERS):
            f0, f1 = _unit_normalise(feats[name]).chunk(2)
            total = total + head((f0 - f1).square()).mean(dim=(1, 2, 3))  # head, then the spatial mean
        return total


def fetch_lpips_heads(cache_dir: Path = DEFAULT_CACHE, weights_dir: Path = DEFAULT_WEIGHTS) -> Path:
    """``weights_dir/lpips_vgg_v0.1.safetensors``, converted once from the lpips wheel (``fetch_converted``)."""
    return fetch_converted(Path(weights_dir) / HEADS_FILE, HEADS_SHA256, cache_dir=cache_dir,
                           package=(PACKAGE, VERSION, WHEEL, WHEEL_SHA256), convert=convert_heads, what="LPIPS heads",
                           command="genbench fetch-weights lpips")


def convert_heads(wheel: Path) -> bytes:
    """The safetensors bytes of the wheel's five heads, renamed ``lin{k}.model.1.weight`` -> ``lins.{k}.weight``."""
    source = f"{wheel}:{MEMBER}"
    try:
        with zipfile.ZipFile(wheel) as zf:
            state = torch.load(io.BytesIO(zf.read(MEMBER)), map_location="cpu", weights_only=True)
        heads = {f"lins.{k}.weight": state[f"lin{k}.model.1.weight"].float() for k in range(len(CHANNELS))}
    except (zipfile.BadZipFile, KeyError, TypeError) as err:
        raise InputError(f"{source}: not lpips's VGG heads ({type(err).__name__}: {err}); delete it and re-run") \
            from None
    except Exception as err:  # noqa: BLE001 -- weights_only refusals and truncated pickles alike
        raise InputError(f"{source}: unreadable state dict ({type(err).__name__}); delete it and re-run") from None
    _check_heads(heads, source)
    return safetensors_bytes(heads, {"source": SOURCE, "layout": "genbench LPIPS.lins"})


def _check_heads(heads: dict[str, torch.Tensor], source: str) -> None:
    for k, c in enumerate(CHANNELS):
        weight = heads.get(f"lins.{k}.weight")
        if weight is None or weight.shape != (1, c, 1, 1):
            raise InputError(f"{source}: head {k} should be (1, {c}, 1, 1), got "
                             f"{None if weight is None else tuple(weight.shape)}")
        if bool((weight < 0).any()):
            raise InputError(f"{source}: head {k} has negative weights; LPIPS heads are non-negative")


def load_lpips(vgg_path: Path | None = None, heads_path: Path | None = None, *,
               device: torch.device | str = "cpu") -> LPIPS:
    """LPIPS-VGG v0.1 with the checked backbone and heads (fetched when None), in eval mode on ``device``."""
    heads_path = fetch_lpips_heads() if heads_path is None else Path(heads_path)
    heads = read_pinned_safetensors(heads_path, HEADS_SHA256, what=f"LPIPS heads converted from {PACKAGE}=={VERSION}",
                                    command="genbench fetch-weights lpips")
    _check_heads(heads, str(heads_path))
    model = LPIPS(load_vgg16(vgg_path))
    model.lins.load_state_dict({name.removeprefix("lins."): w for name, w in heads.items()})
    return model.to(device).eval()


def to_input(images_uint8: np.ndarray, device: torch.device | str) -> torch.Tensor:
    """uint8 (N, 1 or 3, H, W) -> float32 RGB in [-1, 1] (grayscale repeated to three channels)."""
    x = torch.from_numpy(np.ascontiguousarray(images_uint8)).to(device).float() / 127.5 - 1.0
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


@torch.inference_mode()
def lpips_distances(model: LPIPS, a_uint8: np.ndarray, b_uint8: np.ndarray, *, batch_size: int = 50,
                    device: torch.device | str = "cpu") -> np.ndarray:
    """Per-pair LPIPS (N,) float64 of two uint8 image batches (N, 1 or 3, H, W) of one shape."""
    if a_uint8.shape != b_uint8.shape or a_uint8.ndim != 4 or a_uint8.shape[1] not in (1, 3) \
            or a_uint8.dtype != np.uint8 or b_uint8.dtype != np.uint8:
        raise ValueError(f"lpips_distances: expected two uint8 batches (N, 1 or 3, H, W) of one shape, got "
                         f"{a_uint8.dtype} {a_uint8.shape} and {b_uint8.dtype} {b_uint8.shape}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    out = np.empty(len(a_uint8), dtype=np.float64)
    for start in range(0, len(a_uint8), batch_size):
        stop = start + batch_size
        out[start:stop] = model(to_input(a_uint8[start:stop], device), to_input(b_uint8[start:stop], device)).cpu()
    return out
