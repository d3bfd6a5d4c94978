"""Improved precision and recall of a generative model.

Kynkaanniemi et al. 2019, "Improved Precision and Recall Metric for Assessing Generative Models"
(https://arxiv.org/abs/1904.06991), section 2, eqs. (1)-(2): each set's manifold is the union of balls
around its samples with radius the distance to the sample's k-th nearest neighbour in the same set
(k = 3 in the paper). Then

    precision = fraction of fake samples inside the real manifold,
    recall    = fraction of real samples inside the fake manifold.

Follows the NVlabs reference (stylegan2-ada ``metrics/precision_recall.py``): Euclidean distances, the
radius is the (k+1)-th smallest distance of a row that includes the point itself, and a probe on a
ball's boundary counts as inside. Distances are float64 and computed ``chunk`` rows at a time (see
``_neighbours``), so the result does not depend on ``chunk`` and memory stays bounded.
"""
from __future__ import annotations

import numpy as np

from genbench.metrics._neighbours import DEFAULT_CHUNK, as_feature_matrix, ball_counts, kth_neighbour_distances

__all__ = ["precision_recall", "manifold_coverage"]


def manifold_coverage(manifold: np.ndarray, probes: np.ndarray, *, k: int, chunk: int = DEFAULT_CHUNK) -> float:
    """Fraction of ``probes`` within the k-NN manifold of ``manifold`` (both (N, D) feature arrays)."""
    radii = kth_neighbour_distances(manifold, k, chunk=chunk)
    per_probe, _ = ball_counts(probes, manifold, radii, chunk=chunk)
    return float(np.mean(per_probe > 0))


def precision_recall(real: np.ndarray, fake: np.ndarray, *, k: int = 3,
                     chunk: int = DEFAULT_CHUNK) -> tuple[float, float]:
    """(precision, recall) of ``fake`` (M, D) features against ``real`` (N, D); needs N > k and M > k."""
    real = as_feature_matrix(real, "real")
    fake = as_feature_matrix(fake, "fake")
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"real and fake features differ in dimension: {real.shape[1]} vs {fake.shape[1]}")
    precision = manifold_coverage(real, fake, k=k, chunk=chunk)
    recall = manifold_coverage(fake, real, k=k, chunk=chunk)
    return precision, recall
