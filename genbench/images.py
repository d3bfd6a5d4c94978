"""Images as genbench stores and shows them, below every other layer: model outputs in [-1, 1] to uint8
(``to_uint8``), a batch of uint8 images (N, C, H, W) tiled into one PNG like torchvision's make_grid
(``make_grid``, ``save_grid``), and a matplotlib figure as reproducible PNG bytes (``figure_png``).

Jobs (train, sample, translate, evaluation, experiments) and the report import these from here, so none of them
imports another's module for a helper."""
from __future__ import annotations

import math
from pathlib import Path

import io

import numpy as np
import torch
from PIL import Image

from genbench.io import atomic_path

__all__ = ["figure_png", "make_grid", "save_grid", "to_uint8"]


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """[-1, 1] float -> uint8 with round-to-nearest (the inverse of ``x / 127.5 - 1``)."""
    return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu().numpy()


def make_grid(images: np.ndarray, *, nrow: int | None = None, padding: int = 2, pad_value: int = 0) -> np.ndarray:
    """Tile ``images`` (N, C, H, W) uint8 with C in {1, 3} into an (H', W', C) array, ``nrow`` images a row
    (default: a square-ish grid of ceil(sqrt(N)) columns)."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[1] not in (1, 3) or images.dtype != np.uint8 or len(images) == 0:
        raise ValueError(f"expected a non-empty uint8 array (N, C, H, W) with C in {{1, 3}}, "
                         f"got {images.dtype} {images.shape}")
    n, c, h, w = images.shape
    ncol = nrow or math.ceil(math.sqrt(n))
    rows = math.ceil(n / ncol)
    grid = np.full((rows * (h + padding) + padding, ncol * (w + padding) + padding, c), pad_value, np.uint8)
    for i, image in enumerate(images):
        top, left = padding + (i // ncol) * (h + padding), padding + (i % ncol) * (w + padding)
        grid[top:top + h, left:left + w] = image.transpose(1, 2, 0)
    return grid


def save_grid(images_uint8: np.ndarray, path: str | Path, *, nrow: int | None = None) -> None:
    """Write ``make_grid(images_uint8)`` as a PNG (grayscale or RGB), atomically."""
    grid = make_grid(images_uint8, nrow=nrow)
    image = Image.fromarray(grid[:, :, 0] if grid.shape[2] == 1 else grid)  # uint8: mode L or RGB
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")


def figure_png(fig) -> bytes:
    """A matplotlib ``Figure`` as PNG bytes on the Agg canvas (no pyplot, no global backend state), without the
    Software metadata, so the bytes depend on the data only."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    return buf.getvalue()
