"""Improved precision and recall of a generative model.

Kynkaanniemi et al. 2019, "Improved Precision and Recall Metric for Assessing Generative Models"
(https://arxiv.org/abs/1904.06991), section 2, eqs. (1)-(2): each set's manifold is the union of balls
around its samples with radius the distance to the sample's k-th nearest neighbour in the same set
(k = 3 in the paper). Then

    precision = fraction of fake samples inside the real manifold,
    recall    = fraction of real samples inside the fake manifold.

Follows the NVlabs reference (stylegan2-ada ``metrics/precision_recall.py``) and torch-fidelity: Euclidean
distances, the radius is the (k+1)-th smallest distance of a row that includes the point itself, and a
probe on a ball's boundary counts as inside (prdc uses ``<``; the two differ only on exact ties). Every
comparison is decided as float64 distances decide it, in blocks of ``chunk`` rows (see ``_neighbours``),
so the result does not depend on ``chunk`` and memory stays bounded. The real-fake distances are
computed once and serve both directions.
"""
from __future__ import annotations

import numpy as np

from genbench.metrics._checks import check_features, check_positive_int, check_same_dim
from genbench.metrics._neighbours import DEFAULT_CHUNK, count_balls, kth_sq_distances, prepare

__all__ = ["precision_recall", "manifold_coverage"]


def precision_recall(real: np.ndarray, fake: np.ndarray, *, k: int = 3,
                     chunk: int = DEFAULT_CHUNK) -> tuple[float, float]:
    """(precision, recall) of ``fake`` (M, D) features against ``real`` (N, D); needs N > k and M > k."""
    k = check_positive_int(k, "k")
    chunk = check_positive_int(chunk, "chunk")
    purpose = f"precision/recall with k={k}"
    real = check_features(real, "real features", min_samples=k + 1, purpose=purpose)
    fake = check_features(fake, "fake features", min_samples=k + 1, purpose=purpose)
    check_same_dim(real, fake)
    real_points, fake_points = prepare(real, fake)
    real_r2 = kth_sq_distances(real_points, k, chunk=chunk)
    fake_r2 = kth_sq_distances(fake_points, k, chunk=chunk)
    counts = count_balls(fake_points, real_points, real_r2, probe_r2=fake_r2, inclusive=True, exact_counts=False,
                         chunk=chunk)
    return float(np.mean(counts.per_probe > 0)), float(np.mean(counts.centres_in_probe_balls > 0))


def manifold_coverage(manifold: np.ndarray, probes: np.ndarray, *, k: int, chunk: int = DEFAULT_CHUNK) -> float:
    """Fraction of ``probes`` (M, D) within the k-NN manifold of ``manifold`` (N, D), boundary inside."""
    k = check_positive_int(k, "k")
    chunk = check_positive_int(chunk, "chunk")
    manifold = check_features(manifold, "manifold features", min_samples=k + 1, purpose=f"a k-NN manifold (k={k})")
    probes = check_features(probes, "probe features", min_samples=1, purpose="manifold coverage")
    check_same_dim(manifold, probes)
    manifold_points, probe_points = prepare(manifold, probes)
    radii_sq = kth_sq_distances(manifold_points, k, chunk=chunk)
    counts = count_balls(probe_points, manifold_points, radii_sq, inclusive=True, exact_counts=False, chunk=chunk)
    return float(np.mean(counts.per_probe > 0))
