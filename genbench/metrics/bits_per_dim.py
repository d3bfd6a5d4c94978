"""Bits per dimension: the unit in which likelihood models of 8-bit images are compared.

For an image of D sub-pixels with values in {0, ..., 255}, a model that assigns it probability P has
-log2(P) / D bits/dim; a model that spreads P uniformly over the 256 levels has exactly 8. A continuous
density (a flow) is turned into such a P by uniform dequantisation (Theis et al. 2016, "A note on the
evaluation of generative models", sec. 3.1; Dinh et al. 2017, sec. 4.1): with y = (x + u) / 256, u ~ U[0, 1)^D,

    -log P(x)  <=  E_u[ -log p_y(y) ] + D log 256,

the expectation estimated with draws of u (an upper bound on the discrete NLL, so still a fair comparison).
Pure functions over arrays of per-image negative log-likelihoods in nats; no models here.
"""
from __future__ import annotations

import math

import numpy as np

LEVELS = 256  # 8-bit sub-pixels


def bits_per_dim(nll_nats: np.ndarray, num_dims: int) -> np.ndarray:
    """Per-image bits/dim from per-image negative log-likelihoods (nats) of images with ``num_dims`` sub-pixels."""
    if num_dims < 1:
        raise ValueError(f"num_dims must be >= 1, got {num_dims}")
    return np.asarray(nll_nats, dtype=np.float64) / (num_dims * math.log(2.0))


def dequantised_nll(log_density: np.ndarray, num_dims: int, *, levels: int = LEVELS) -> np.ndarray:
    """-log p_y(y) + D log(levels): the discrete NLL bound (nats) of an image from the log-density of its
    dequantised copy y in the unit cube [0, 1)^D (the change of variables from bins of width 1 to 1/levels)."""
    return -np.asarray(log_density, dtype=np.float64) + num_dims * math.log(levels)


def mean_and_standard_error(values: np.ndarray) -> tuple[float, float]:
    """The mean over test images and its standard error (sample std / sqrt(n); 0 for a single image)."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        raise ValueError("no values to average")
    sem = float(values.std(ddof=1) / math.sqrt(values.size)) if values.size > 1 else 0.0
    return float(values.mean()), sem
