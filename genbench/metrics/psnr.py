"""Peak signal-to-noise ratio, as super-resolution papers report it (e.g. Dong et al. 2014, SRCNN,
https://arxiv.org/abs/1501.00092; Ledig et al. 2017, SRGAN; the BasicSR toolbox's ``calculate_psnr``).

``PSNR = 10 log10(255^2 / MSE)`` dB per image, with the MSE over all its pixels (and channels) in float64 on
[0, 255] values; a batch's PSNR is the mean of the per-image values, not the PSNR of the pooled MSE.
Options the SR protocol fixes:

- ``y_channel``: compare ITU-R BT.601 luma only, ``Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255`` on
  [0, 255] floats (MATLAB's ``rgb2ycbcr``, as SR papers do), not rounded;
- ``crop_border``: drop that many pixels on each side first (papers crop ``scale`` pixels).

Identical images have MSE 0 and PSNR +inf. ``psnr`` returns ``inf`` for them explicitly (no division
warning) unless ``max_db`` caps every value; ``mean_psnr`` is then inf too, so a metrics record that must
stay finite JSON passes a cap (e.g. 100 dB) and records it as part of the protocol.
"""
from __future__ import annotations

import math

import numpy as np

from genbench.metrics._checks import MetricInputError

__all__ = ["psnr", "mean_psnr", "rgb_to_y"]

_BT601 = np.array([65.481, 128.553, 24.966]) / 255.0


def rgb_to_y(images: np.ndarray) -> np.ndarray:
    """BT.601 luma (N, 1, H, W) float64 in [16, 235] of RGB images (N, 3, H, W) with values in [0, 255]."""
    return 16.0 + np.einsum("nchw,c->nhw", np.asarray(images, dtype=np.float64), _BT601)[:, None]


def _check(a: np.ndarray, b: np.ndarray, *, y_channel: bool, crop_border: int) -> None:
    for name, x in (("first images", a), ("second images", b)):
        if not isinstance(x, np.ndarray) or x.dtype != np.uint8 or x.ndim != 4:
            raise MetricInputError(f"psnr: {name} must be uint8 (N, C, H, W), got "
                                   f"{getattr(x, 'dtype', type(x).__name__)} {getattr(x, 'shape', '')}")
    if a.shape != b.shape:
        raise MetricInputError(f"psnr: the two image batches differ in shape ({a.shape} vs {b.shape})")
    if len(a) == 0:
        raise MetricInputError("psnr: the image batches are empty; pass at least one pair")
    if y_channel and a.shape[1] != 3:
        raise MetricInputError(f"psnr: y_channel needs RGB images (3 channels), got {a.shape[1]}")
    if isinstance(crop_border, bool) or not isinstance(crop_border, (int, np.integer)) or crop_border < 0 \
            or 2 * crop_border >= min(a.shape[2:]):
        raise MetricInputError(f"psnr: crop_border must be an integer in [0, {(min(a.shape[2:]) - 1) // 2}] "
                               f"for {a.shape[2]}x{a.shape[3]} images, got {crop_border!r}")


def psnr(a: np.ndarray, b: np.ndarray, *, y_channel: bool = False, crop_border: int = 0,
         max_db: float = math.inf) -> np.ndarray:
    """Per-image PSNR in dB (N,) float64 of two uint8 batches (N, C, H, W) of one shape; data range 255.

    Pairs with MSE 0 give ``inf``; every value is capped at ``max_db`` (default: no cap).
    """
    _check(a, b, y_channel=y_channel, crop_border=crop_border)
    x, y = (rgb_to_y(a), rgb_to_y(b)) if y_channel else (a.astype(np.float64), b.astype(np.float64))
    if crop_border:
        x = x[..., crop_border:-crop_border, crop_border:-crop_border]
        y = y[..., crop_border:-crop_border, crop_border:-crop_border]
    mse = ((x - y) ** 2).mean(axis=(1, 2, 3))
    out = np.full(len(mse), math.inf)
    positive = mse > 0
    out[positive] = 10.0 * np.log10(255.0**2 / mse[positive])
    return np.minimum(out, max_db)


def mean_psnr(a: np.ndarray, b: np.ndarray, *, y_channel: bool = False, crop_border: int = 0,
              max_db: float = math.inf) -> float:
    """The mean over images of ``psnr`` (the SR papers' number); inf if an uncapped pair is identical."""
    return float(psnr(a, b, y_channel=y_channel, crop_border=crop_border, max_db=max_db).mean())
