"""Memorisation check: how close generated images lie to the training set, measured against how close unseen
real images lie to it.

A model that copies its training images puts its samples nearer to the training set than held-out test
images are (the data-copying test of Meehan et al., AISTATS 2020, in its simplest form). With ``d(x)`` the
Euclidean distance in feature space from ``x`` to its nearest training image:

- ``distance_ratio`` = median d(fake) / median d(test): about 1 for a model that generalises, well below 1
  for one that memorises (and above 1 for one whose samples are off the data manifold);
- ``near_copy_rate`` = share of fakes with d(fake) below the ``quantile`` of d(test): ``quantile`` (5 %)
  is what a model drawing from the test distribution scores; much more flags near copies.
"""
from __future__ import annotations

import numpy as np

from genbench.metrics._checks import MetricInputError, check_features, check_positive_int, check_same_dim

__all__ = ["copy_statistics", "nearest_neighbours"]


def nearest_neighbours(queries: np.ndarray, references: np.ndarray, k: int, *,
                       chunk: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Indices (N, k) into ``references`` and Euclidean distances (N, k) of each query's ``k`` nearest,
    nearest first; ties go to the lower index. Exact: squared distances in float64, blockwise over queries."""
    k = check_positive_int(k, "k")
    queries = check_features(queries, "query features", min_samples=1, purpose="a nearest-neighbour search")
    references = check_features(references, "training features", min_samples=k,
                                purpose=f"{k} nearest neighbours")
    check_same_dim(references, queries)
    refs = references.astype(np.float64)
    ref_sq = np.einsum("ij,ij->i", refs, refs)
    indices = np.empty((len(queries), k), np.int64)
    distances = np.empty((len(queries), k), np.float64)
    for start in range(0, len(queries), chunk):
        q = queries[start:start + chunk].astype(np.float64)
        # |q - r|^2 = |q|^2 + |r|^2 - 2 q.r; clipped at 0 against rounding
        d2 = np.maximum(np.einsum("ij,ij->i", q, q)[:, None] + ref_sq[None, :] - 2.0 * q @ refs.T, 0.0)
        part = np.argpartition(d2, k - 1, axis=1)[:, :k]
        part_d2 = np.take_along_axis(d2, part, axis=1)
        order = np.lexsort((part, part_d2), axis=1)  # by distance, then index
        indices[start:start + len(q)] = np.take_along_axis(part, order, axis=1)
        distances[start:start + len(q)] = np.sqrt(np.take_along_axis(part_d2, order, axis=1))
    return indices, distances


def copy_statistics(fake_to_train: np.ndarray, test_to_train: np.ndarray, *, quantile: float = 0.05) -> dict:
    """``distance_ratio``, ``near_copy_rate`` (module docstring) and the medians they come from, given each
    fake's and each test image's distance to its nearest training image."""
    fake = np.asarray(fake_to_train, dtype=np.float64).ravel()
    test = np.asarray(test_to_train, dtype=np.float64).ravel()
    if not 0.0 < quantile < 1.0:
        raise MetricInputError(f"quantile must lie in (0, 1), got {quantile}")
    for name, values in (("fake-to-train distances", fake), ("test-to-train distances", test)):
        if values.size == 0 or not np.isfinite(values).all() or (values < 0).any():
            raise MetricInputError(f"{name}: need a non-empty array of finite distances >= 0")
    median_test = float(np.median(test))
    if median_test == 0.0:
        raise MetricInputError("test-to-train distances: median is 0 (the test split holds copies of training "
                               "images); deduplicate the splits")
    threshold = float(np.quantile(test, quantile))
    return {"median_fake_to_train": float(np.median(fake)), "median_test_to_train": median_test,
            "distance_ratio": float(np.median(fake)) / median_test,
            "near_copy_rate": float(np.mean(fake < threshold)), "near_copy_threshold": threshold,
            "quantile": quantile}
