"""Input checks shared by every metric: one error type, one-line messages that name the input and the fix.

Every public metric function runs its arrays through these before any arithmetic, so a wrong shape, an
integer array, a NaN or a pair of feature sets from different layers is reported as a ``MetricInputError``
(a ``ValueError``) naming "real features", "fake features" or "logits", never as a numpy traceback or a
silently wrong number.
"""
from __future__ import annotations

import numpy as np

from genbench.errors import MetricInputError

__all__ = ["MetricInputError", "check_features", "check_same_dim", "check_positive_int"]


def check_positive_int(value: int, name: str) -> int:
    """``value`` if it is an integer >= 1, else a MetricInputError naming the parameter ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise MetricInputError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _first_non_finite_row(x: np.ndarray) -> int | None:
    # A float64 sum is finite for finite float16/32 input and propagates NaN/inf, so one cheap reduction
    # settles the common case; only a non-finite sum (a bad value, or float64 overflow) needs the full mask.
    if np.isfinite(x.sum(dtype=np.float64)):
        return None
    rows = np.flatnonzero(~np.isfinite(x).all(axis=1))
    return int(rows[0]) if rows.size else None


def check_features(x: np.ndarray, name: str, *, min_samples: int, purpose: str) -> np.ndarray:
    """``x`` as a finite floating (N, D) array with N >= ``min_samples``; dtype and values untouched.

    ``name`` is what the message calls the array ("real features", "logits"), ``purpose`` what the
    minimum is for ("KID", "precision/recall with k=3").
    """
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] == 0:
        raise MetricInputError(f"{name}: expected a 2-D (N, D) array with one row per image, got shape "
                               f"{x.shape}; stack the per-image vectors into rows")
    if not np.issubdtype(x.dtype, np.floating):
        raise MetricInputError(f"{name}: expected floating-point values, got dtype {x.dtype}; pass the "
                               "network's float outputs (cast with .astype(np.float32) if these are features)")
    if x.shape[0] < min_samples:
        raise MetricInputError(f"{name}: {purpose} needs at least {min_samples} rows, got {x.shape[0]}; "
                               "evaluate more images")
    row = _first_non_finite_row(x)
    if row is not None:
        raise MetricInputError(f"{name}: contains NaN or infinity (first in row {row}); check the network "
                               "output and the images it was computed from")
    return x


def check_same_dim(real: np.ndarray, fake: np.ndarray) -> None:
    """Real and fake features must come from the same layer: equal feature dimension D."""
    if real.shape[1] != fake.shape[1]:
        raise MetricInputError(f"real features and fake features differ in dimension ({real.shape[1]} vs "
                               f"{fake.shape[1]}); extract both with the same network and layer")
