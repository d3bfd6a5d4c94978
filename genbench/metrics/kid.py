"""Kernel Inception Distance: the unbiased MMD^2 between two feature sets, averaged over random subsets.

Binkowski et al. 2018, "Demystifying MMD GANs" (https://arxiv.org/abs/1801.01401), section 4 and
appendix: the kernel is the cubic polynomial k(x, y) = (x.y / d + 1)^3 and the estimator is the
unbiased one (eq. (3) of Gretton et al. 2012 with the diagonal terms left out):

    MMD^2_u = 1/(m(m-1)) sum_{i != j} [k(x_i, x_j) + k(y_i, y_j)] - 2/m^2 sum_{i, j} k(x_i, y_j)

It is computed on ``num_subsets`` pairs of subsets of ``subset_size`` rows each, drawn without replacement
inside a subset (independently across subsets), as in the paper's code, torch-fidelity and clean-fid.
The reported numbers are the mean and the (population, ddof=0) standard deviation over subsets, as in
torch-fidelity. Subsets come from a seeded ``numpy.random.Generator``, so a seed fixes the result.

Subset size rule: ``subset_size`` is clipped to ``min(n_real, n_fake)`` (clean-fid's rule; torch-fidelity
raises instead), so a small evaluation still yields a number; the size actually used is what the caller
should record, see ``effective_subset_size``. At least 2 rows per subset are needed for the unbiased estimate.
"""
from __future__ import annotations

import numpy as np

__all__ = ["kernel_inception_distance", "effective_subset_size", "polynomial_mmd2_unbiased"]


def effective_subset_size(n_real: int, n_fake: int, subset_size: int) -> int:
    """The subset size actually used: ``subset_size`` clipped to the smaller feature set."""
    if subset_size < 2:
        raise ValueError(f"KID subset_size must be at least 2, got {subset_size}")
    m = min(subset_size, n_real, n_fake)
    if m < 2:
        raise ValueError(f"KID needs at least 2 real and 2 fake feature vectors, got {n_real} and {n_fake}")
    return m


def _polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """k(x, y) = (x.y / d + 1)^3 for all row pairs: gamma = 1/d, coef0 = 1, degree 3."""
    base = x @ y.T
    base /= x.shape[1]
    base += 1.0
    return base * base * base  # not ``** 3``: a float power is several times slower


def polynomial_mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 between equally sized samples ``x`` and ``y`` (m, d) under the cubic kernel."""
    m = x.shape[0]
    if y.shape[0] != m:
        raise ValueError(f"the unbiased estimate here needs equal sample sizes, got {m} and {y.shape[0]}")
    k_xx = _polynomial_kernel(x, x)
    k_yy = _polynomial_kernel(y, y)
    k_xy = _polynomial_kernel(x, y)
    # sum over i != j: the total minus the diagonal k(x_i, x_i)
    within = (k_xx.sum() - np.trace(k_xx)) + (k_yy.sum() - np.trace(k_yy))
    return float(within / (m * (m - 1)) - 2.0 * k_xy.sum() / (m * m))


def kernel_inception_distance(real: np.ndarray, fake: np.ndarray, *, num_subsets: int, subset_size: int,
                              seed: int) -> tuple[float, float]:
    """KID between ``real`` (N, D) and ``fake`` (M, D) features: (mean, std) of MMD^2_u over subsets.

    Each subset draws ``effective_subset_size(N, M, subset_size)`` fake rows and as many real rows without
    replacement; the kernel is evaluated in float64.
    """
    real = np.asarray(real)
    fake = np.asarray(fake)
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"expected (N, D) and (M, D) feature arrays, got {real.shape} and {fake.shape}")
    if num_subsets < 1:
        raise ValueError(f"KID num_subsets must be at least 1, got {num_subsets}")
    if not (np.isfinite(real).all() and np.isfinite(fake).all()):
        raise ValueError("KID: features contain NaN or infinity")
    m = effective_subset_size(real.shape[0], fake.shape[0], subset_size)

    rng = np.random.default_rng(seed)
    mmds = np.empty(num_subsets, dtype=np.float64)
    for i in range(num_subsets):
        x = fake[rng.choice(fake.shape[0], m, replace=False)].astype(np.float64)
        y = real[rng.choice(real.shape[0], m, replace=False)].astype(np.float64)
        mmds[i] = polynomial_mmd2_unbiased(x, y)
    return float(mmds.mean()), float(mmds.std())
