"""Kernel Inception Distance: the unbiased MMD^2 between two feature sets, averaged over random subsets.

Binkowski et al. 2018, "Demystifying MMD GANs" (https://arxiv.org/abs/1801.01401), section 4 and
appendix: the kernel is the cubic polynomial k(x, y) = (x.y / d + 1)^3 and the estimator is the
unbiased one (eq. (3) of Gretton et al. 2012 with the diagonal terms left out):

    MMD^2_u = 1/(m(m-1)) sum_{i != j} [k(x_i, x_j) + k(y_i, y_j)] - 2/m^2 sum_{i, j} k(x_i, y_j)

It is computed on ``num_subsets`` pairs of subsets of ``subset_size`` rows each, drawn without replacement
inside a subset (independently across subsets), as in the paper's code, torch-fidelity and clean-fid.
The reported numbers are the mean and the (population, ddof=0) standard deviation over subsets, as in
torch-fidelity. Subsets come from a seeded ``numpy.random.Generator``, so a seed fixes the result.

Arithmetic. The dot products x.y are computed in the features' precision, as clean-fid, torch-fidelity
and the paper's code do: float32 for float32 (or float16) features, float64 otherwise. x x^T and y y^T
come from BLAS syrk, one triangle each, into one reused buffer (numpy's ``x @ x.T``, which the peers
use, is a syrk too, so the multiply-adds are the same; the gain is in what follows), y x^T from gemm.
Only the triangles are evaluated, a cache-sized block of rows at a time (the entries above the diagonal
are 0, where k - 1 is 0 too), and no (m, m) array is allocated per subset.

The constant 1 of the kernel cancels exactly in the estimator (its three sums are m(m-1), m(m-1) and m^2
ones), so what is summed is k - 1 = ((t + 3) t + 3) t with t = x.y / d: no digits are lost to the 1s.
Kernel values are in the products' precision and summed in float64; for float32 the kernel's own rounding
(a few units of 2^-24 per entry, unbiased) moves the sums by about 1e-10 relative, far below the rounding
the products already carry (MMD^2 moves by about 1e-10 absolute at d = 2048, below 1e-6 relative unless
MMD^2 is itself within about 1e-4 of 0). Pass ``features.astype(np.float64)`` for float64 throughout,
about 2x slower at d = 2048 (float64 BLAS).

Subset size rule: ``subset_size`` is clipped to ``min(n_real, n_fake)`` (clean-fid's rule; torch-fidelity
raises instead), so a small evaluation still yields a number; the size actually used is what the caller
should record, see ``effective_subset_size``. At least 2 rows per subset are needed for the unbiased estimate.
"""
from __future__ import annotations

import numpy as np
from scipy.linalg import blas

from genbench.metrics._checks import MetricInputError, check_features, check_positive_int, check_same_dim

__all__ = ["kernel_inception_distance", "effective_subset_size", "polynomial_mmd2_unbiased"]

#: rows of a kernel block evaluated at a time (a temporary of _ROWS x m stays in cache)
_ROWS = 128


def effective_subset_size(n_real: int, n_fake: int, subset_size: int) -> int:
    """The subset size actually used: ``subset_size`` clipped to the smaller feature set."""
    if subset_size < 2:
        raise MetricInputError(f"KID subset_size must be at least 2, got {subset_size}")
    m = min(subset_size, n_real, n_fake)
    if m < 2:
        raise MetricInputError(f"KID needs at least 2 real and 2 fake feature vectors, got {n_real} and {n_fake}; "
                               "evaluate more images")
    return m


def _product_dtype(*arrays: np.ndarray) -> np.dtype:
    """float32 if every array is float32 or narrower, else float64."""
    narrow = all(np.dtype(a.dtype).itemsize <= 4 for a in arrays)
    return np.dtype(np.float32 if narrow else np.float64)


def _kernel_minus_one_sum(g: np.ndarray, d: int, out: np.ndarray) -> float:
    """Sum of (1 + g/d)^3 - 1 = ((g/d^3 + 3/d^2) g + 3/d) g over dot products ``g`` (Horner in the
    products' precision, into ``out``; summed in float64)."""
    dtype = out.dtype.type
    np.multiply(g, dtype(1.0 / d ** 3), out=out)
    out += dtype(3.0 / d ** 2)
    out *= g
    out += dtype(3.0 / d)
    out *= g
    return float(out.sum(dtype=np.float64))


class _Workspace:
    """Buffers reused by every subset: the subsets x and y, one triangle buffer for x x^T and then y y^T,
    one buffer for y x^T and a block of kernel values: 2 m d + 2 m^2 numbers, a quarter less than the
    stacked (2m, 2m) Gram matrix of [x; y] would need, at the same speed.

    syrk writes only the upper triangle of the (Fortran-ordered) triangle buffer, so the entries below it
    stay 0 from the one allocation on.
    """

    def __init__(self, m: int, d: int, dtype: np.dtype):
        self.x = np.empty((m, d), dtype=dtype)
        self.y = np.empty((m, d), dtype=dtype)
        self.triangle = np.zeros((m, m), dtype=dtype, order="F")
        self.cross = np.zeros((m, m), dtype=dtype, order="F")
        self.kernel = np.empty((_ROWS, m), dtype=dtype)


def _within_sum(work: _Workspace, z: np.ndarray) -> float:
    """Sum over i != j of k(z_i, z_j) - 1, from the lower triangle of z z^T (the module docstring)."""
    m, d = z.shape
    # z.T is Fortran-ordered, so BLAS reads z without a copy; the upper triangle of a Fortran array is the
    # lower triangle of its C-ordered transpose, whose rows are contiguous.
    (syrk,) = blas.get_blas_funcs(("syrk",), dtype=z.dtype)
    lower = syrk(1.0, z.T, trans=1, c=work.triangle, overwrite_c=1).T
    total = 0.0
    for start in range(0, m, _ROWS):
        stop = min(start + _ROWS, m)
        total += _kernel_minus_one_sum(lower[start:stop, :stop], d, work.kernel[:stop - start, :stop])
    diagonal = np.diagonal(lower).astype(np.float64)
    diagonal = ((diagonal / d ** 3 + 3.0 / d ** 2) * diagonal + 3.0 / d) * diagonal
    return 2.0 * (total - diagonal.sum())  # i != j: twice the strict triangle


def _subset_mmd2(work: _Workspace) -> float:
    """Unbiased MMD^2 of the subsets in ``work.x`` and ``work.y``."""
    m, d = work.x.shape
    within = _within_sum(work, work.x) + _within_sum(work, work.y)
    # (y^T)^T x^T = y x^T into the Fortran buffer; its C-ordered transpose x y^T is read row block by row block.
    # scipy's BLAS throughout: interleaving calls into numpy's and scipy's (separate OpenBLAS builds, each
    # with its own spinning thread pool) slows both several-fold.
    (gemm,) = blas.get_blas_funcs(("gemm",), dtype=work.x.dtype)
    cross = gemm(1.0, work.y.T, work.x.T, trans_a=1, c=work.cross, overwrite_c=1).T
    xy = sum(_kernel_minus_one_sum(cross[start:start + _ROWS], d, work.kernel[:min(_ROWS, m - start)])
             for start in range(0, m, _ROWS))
    return float(within / (m * (m - 1)) - 2.0 * xy / (m * m))


def polynomial_mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 between equally sized floating samples ``x`` and ``y`` (m, d) under the cubic kernel.

    The products and kernel values are in the samples' precision (float32 if both are float32 or
    narrower, else float64), their sums in float64.
    """
    x, y = np.asarray(x), np.asarray(y)
    m, d = x.shape
    if y.shape != (m, d) or m < 2:
        raise MetricInputError(f"the unbiased MMD here needs two (m, d) samples with m >= 2, got {x.shape} "
                               f"and {y.shape}")
    work = _Workspace(m, d, _product_dtype(x, y))
    work.x[...], work.y[...] = x, y
    return _subset_mmd2(work)


def kernel_inception_distance(real: np.ndarray, fake: np.ndarray, *, num_subsets: int, subset_size: int,
                              seed: int) -> tuple[float, float]:
    """KID between ``real`` (N, D) and ``fake`` (M, D) features: (mean, std) of MMD^2_u over subsets.

    Each subset draws ``effective_subset_size(N, M, subset_size)`` fake rows and then as many real rows,
    without replacement, from ``numpy.random.default_rng(seed)`` (``rng.choice(n, m, replace=False)``).
    Dot products are float32 when both feature arrays are float32, float64 otherwise (module docstring).
    """
    num_subsets = check_positive_int(num_subsets, "KID num_subsets")
    real = check_features(real, "real features", min_samples=2, purpose="KID")
    fake = check_features(fake, "fake features", min_samples=2, purpose="KID")
    check_same_dim(real, fake)
    m = effective_subset_size(real.shape[0], fake.shape[0], subset_size)

    dtype = _product_dtype(real, fake)
    real, fake = real.astype(dtype, copy=False), fake.astype(dtype, copy=False)  # a copy only for mixed dtypes
    rng = np.random.default_rng(seed)
    work = _Workspace(m, real.shape[1], dtype)
    mmds = np.empty(num_subsets, dtype=np.float64)
    for i in range(num_subsets):
        # mode="clip": the default "raise" buffers ``out`` (a hidden copy); the indices are in range anyway
        np.take(fake, rng.choice(fake.shape[0], m, replace=False), axis=0, out=work.x, mode="clip")
        np.take(real, rng.choice(real.shape[0], m, replace=False), axis=0, out=work.y, mode="clip")
        mmds[i] = _subset_mmd2(work)
    return float(mmds.mean()), float(mmds.std())
