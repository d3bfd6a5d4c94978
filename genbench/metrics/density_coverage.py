"""Density and coverage of a generative model.

Naeem et al. 2020, "Reliable Fidelity and Diversity Metrics for Generative Models"
(https://arxiv.org/abs/2002.09797), section 3, eqs. (3)-(4), with the real manifold only (k = 5 in the
paper): B(X_i, NND_k(X_i)) is the ball around real sample X_i whose radius is the distance to its k-th
nearest real neighbour, and for N real samples X and M fake samples Y

    density  = 1/(k M) sum_j sum_i 1[Y_j in B(X_i, NND_k(X_i))]      (eq. 3; can exceed 1)
    coverage = 1/N     sum_i 1[exists j: Y_j in B(X_i, NND_k(X_i))]  (eq. 4)

Follows the authors' code (clovaai ``prdc``): Euclidean distances, the radius is the (k+1)-th smallest
distance of a row that includes the point itself, and ball membership is strict (``d < r``), which makes
both numbers exactly 1 for identical real and fake sets without tied distances. Only the real set needs
k + 1 samples. Distances are decided as float64 decides them, in bounded blocks (see ``_neighbours``).
"""
from __future__ import annotations

import numpy as np

from genbench.metrics._checks import check_features, check_positive_int, check_same_dim
from genbench.metrics._neighbours import DEFAULT_CHUNK, count_balls, kth_sq_distances, prepare

__all__ = ["density_coverage"]


def density_coverage(real: np.ndarray, fake: np.ndarray, *, k: int = 5,
                     chunk: int = DEFAULT_CHUNK) -> tuple[float, float]:
    """(density, coverage) of ``fake`` (M, D) features against ``real`` (N, D); needs N > k."""
    k = check_positive_int(k, "k")
    chunk = check_positive_int(chunk, "chunk")
    real = check_features(real, "real features", min_samples=k + 1, purpose=f"density/coverage with k={k}")
    fake = check_features(fake, "fake features", min_samples=1, purpose="density/coverage")
    check_same_dim(real, fake)
    real_points, fake_points = prepare(real, fake)
    real_r2 = kth_sq_distances(real_points, k, chunk=chunk)
    counts = count_balls(fake_points, real_points, real_r2, inclusive=False, chunk=chunk)
    density = counts.per_probe.sum() / (k * fake.shape[0])
    return float(density), float(np.mean(counts.per_centre > 0))
