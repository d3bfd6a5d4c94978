"""Structural similarity: Wang, Bovik, Sheikh & Simoncelli 2004, "Image Quality Assessment: From Error
Visibility to Structural Similarity" (https://doi.org/10.1109/TIP.2003.819861).

The paper's settings: an 11x11 Gaussian window with sigma 1.5, K1 0.01, K2 0.03, L the dynamic range, and the
mean of the SSIM map (eq. 13 and 17) per image, channels averaged. Borders are not padded (the map covers the
positions where the whole window fits), as in the paper's MATLAB code's 'valid' filtering.
"""
from __future__ import annotations

import numpy as np
from scipy.ndimage import correlate1d

from genbench.metrics._checks import MetricInputError

__all__ = ["ssim"]


def _gaussian_window(size: int, sigma: float) -> np.ndarray:
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2
    w = np.exp(-x**2 / (2 * sigma**2))
    return w / w.sum()


def _valid_blur(x: np.ndarray, window: np.ndarray) -> np.ndarray:
    """Separable Gaussian filter over the last two axes, keeping only positions where the window fits."""
    half = len(window) // 2
    for axis in (-2, -1):
        x = correlate1d(x, window, axis=axis, mode="constant")
        x = np.take(x, np.arange(half, x.shape[axis] - half), axis=axis)
    return x


def ssim(a: np.ndarray, b: np.ndarray, *, data_range: float = 255.0, window: int = 11, sigma: float = 1.5,
         k1: float = 0.01, k2: float = 0.03) -> np.ndarray:
    """Per-image SSIM of two image batches (N, C, H, W) of the same shape: an (N,) float64 array in [-1, 1]."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 4:
        raise MetricInputError(f"ssim: images must be two (N, C, H, W) arrays of one shape, got {a.shape} and {b.shape}")
    if min(a.shape[-2:]) < window:
        raise MetricInputError(f"ssim: images of {a.shape[-2]}x{a.shape[-1]} are smaller than the {window}x{window} window")
    g = _gaussian_window(window, sigma)
    mu_a, mu_b = _valid_blur(a, g), _valid_blur(b, g)
    var_a = _valid_blur(a * a, g) - mu_a**2
    var_b = _valid_blur(b * b, g) - mu_b**2
    cov = _valid_blur(a * b, g) - mu_a * mu_b
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    index = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return index.mean(axis=(1, 2, 3))
