"""Stroke IoU: how well an image's foreground (pixels at or above a threshold) covers a known stroke mask,
per image. MNIST-M keeps the mask of the digit each image was made from, so a translation back to digits
can be scored on the input's own structure, not only on its class."""
from __future__ import annotations

import numpy as np

from genbench.metrics._checks import MetricInputError


def stroke_iou(images: np.ndarray, masks: np.ndarray, *, threshold: int = 128) -> np.ndarray:
    """Per-image IoU (N,) of ``images[:, 0] >= threshold`` (uint8 (N, 1, H, W)) and boolean ``masks`` (N, H, W);
    two empty sets count as a perfect match."""
    if images.ndim != 4 or images.shape[1] != 1 or images.shape[:1] + images.shape[2:] != masks.shape:
        raise MetricInputError(f"stroke_iou: needs (N, 1, H, W) images and (N, H, W) masks, got {images.shape} "
                               f"and {masks.shape}")
    found, true = images[:, 0] >= threshold, masks.astype(bool)
    union = (found | true).sum(axis=(1, 2))
    return np.where(union > 0, (found & true).sum(axis=(1, 2)) / np.maximum(union, 1), 1.0)
