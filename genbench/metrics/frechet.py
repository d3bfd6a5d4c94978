"""Frechet distance between Gaussians fitted to two feature sets (FID when the features are Inception's).

Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash Equilibrium"
(https://arxiv.org/abs/1706.08500), eq. (6):

    d^2 = ||mu1 - mu2||^2 + Tr(S1) + Tr(S2) - 2 Tr((S1 S2)^{1/2})

Statistics are as in pytorch-fid / clean-fid: float64 mean and unbiased (ddof=1) covariance.

The trace term differs in method, not in value, from the references' ``scipy.linalg.sqrtm(S1 @ S2)``:
with R = S1^{1/2} (symmetric eigendecomposition), S1 S2 = R (R S2) has the eigenvalues of R S2 R (AB and
BA share their spectrum), a symmetric positive semidefinite matrix, so Tr((S1 S2)^{1/2}) is the sum of the
square roots of its eigenvalues. Symmetric eigensolvers are several times faster than the Schur
decomposition inside ``sqrtm`` and stay accurate when the covariances are singular (fewer samples than
dimensions), where ``sqrtm`` loses about half the digits and the references fall back to adding eps to the
diagonals. Eigenvalues below the numerical-rank threshold max|lambda| * n * eps are rounding noise and
are set to 0 before the square root.
"""
from __future__ import annotations

import numpy as np
from scipy import linalg
from scipy.linalg import blas

from genbench.metrics._checks import MetricInputError, check_features, check_same_dim

__all__ = ["feature_statistics", "frechet_distance_from_stats", "frechet_distance", "trace_sqrt_product"]

#: rows per block when accumulating the covariance (bounds the float64 temporary)
_COV_ROWS = 1024
#: rows per block when mirroring a triangle or checking symmetry (a cache-sized temporary)
_MIRROR_ROWS = 256
#: a relative eigenvalue below -this means the matrix is not a covariance (rounding gives about -1e-13)
_PSD_TOLERANCE = 1e-6


def feature_statistics(features: np.ndarray, name: str = "features") -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and unbiased covariance (D, D) of ``features`` (N, D), both float64 whatever the input.

    The covariance is accumulated from blocks of centred rows with BLAS syrk (one triangle, half the work
    of ``np.cov``; same value up to rounding) and mirrored in place, so the only temporary beyond the
    result is one (``_COV_ROWS``, D) block.
    """
    features = check_features(features, name, min_samples=2, purpose="a covariance")
    n, d = features.shape
    mu = features.sum(axis=0, dtype=np.float64) / n
    sigma = np.zeros((d, d), dtype=np.float64, order="F")
    for start in range(0, n, _COV_ROWS):
        centred = np.subtract(features[start:start + _COV_ROWS], mu, dtype=np.float64)
        sigma = blas.dsyrk(1.0 / (n - 1), centred.T, beta=1.0, c=sigma, overwrite_c=1)
    del centred
    # syrk filled the upper triangle of the Fortran array; its transpose is C-ordered with the triangle below
    return mu, _mirror_lower_triangle(sigma.T)


def _mirror_lower_triangle(matrix: np.ndarray) -> np.ndarray:
    """``matrix`` with its strict upper triangle overwritten by the lower one, in place, a band at a time."""
    d = matrix.shape[0]
    for start in range(0, d, _MIRROR_ROWS):
        stop = min(start + _MIRROR_ROWS, d)
        matrix[start:stop, stop:] = matrix[stop:, start:stop].T
        diagonal_block = matrix[start:stop, start:stop]
        upper = np.triu_indices(stop - start, 1)
        diagonal_block[upper] = diagonal_block.T[upper]
    return matrix


def _psd_eigenvalues(matrix: np.ndarray, name: str, *, vectors: bool = False, overwrite: bool = False):
    """Eigenvalues (and vectors) of a symmetric PSD ``matrix`` (its lower triangle; destroyed if ``overwrite``),
    rounding noise below the rank threshold set to 0."""
    n = matrix.shape[0]
    if vectors:
        values, vecs = linalg.eigh(matrix, overwrite_a=overwrite, check_finite=False)
    else:
        values, vecs = linalg.eigvalsh(matrix, overwrite_a=overwrite, check_finite=False), None
    scale = float(np.max(np.abs(values), initial=0.0))
    if values.size and values[0] < -_PSD_TOLERANCE * scale:
        raise MetricInputError(f"{name} is not positive semidefinite (eigenvalue {values[0]:.3g} of largest "
                               f"{scale:.3g}); pass covariance matrices, e.g. from feature_statistics")
    values = np.where(values > scale * n * np.finfo(np.float64).eps, values, 0.0)
    return (values, vecs) if vectors else values


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """Tr((S1 S2)^{1/2}) for symmetric PSD ``sigma1``, ``sigma2``: with S1 = V diag(s^2) V^T, R S2 R for
    R = S1^{1/2} = V diag(s) V^T is orthogonally similar to diag(s) (V^T S2 V) diag(s), whose eigenvalues are
    computed (from its lower triangle, in place): three (D, D) temporaries and two products in all."""
    values, vectors = _psd_eigenvalues(sigma1, "sigma1", vectors=True)
    roots = np.sqrt(values)
    inner = vectors.T @ (sigma2 @ vectors)
    del vectors
    inner *= roots[:, None]
    inner *= roots[None, :]
    return float(np.sqrt(_psd_eigenvalues(inner, "sigma2", overwrite=True)).sum())


def _is_symmetric(sigma: np.ndarray) -> bool:
    """``np.allclose(sigma, sigma.T, rtol=1e-10, atol=1e-12 max|sigma|)``, a band of rows at a time."""
    atol = 1e-12 * float(np.abs(sigma).max(initial=0.0))
    return all(np.allclose(sigma[start:start + _MIRROR_ROWS], sigma[:, start:start + _MIRROR_ROWS].T,
                           rtol=1e-10, atol=atol) for start in range(0, sigma.shape[0], _MIRROR_ROWS))


def _check_stats(mu: np.ndarray, sigma: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    mu = np.atleast_1d(np.asarray(mu, dtype=np.float64))
    sigma = np.atleast_2d(np.asarray(sigma, dtype=np.float64))
    d = mu.shape[0]
    if mu.ndim != 1 or sigma.shape != (d, d):
        raise MetricInputError(f"{name}: expected a (D,) mean and a (D, D) covariance, got {mu.shape} and "
                               f"{sigma.shape}; compute them with feature_statistics")
    if not (np.isfinite(mu).all() and np.isfinite(sigma).all()):
        raise MetricInputError(f"{name}: statistics contain NaN or infinity; recompute them from finite features")
    if not _is_symmetric(sigma):
        raise MetricInputError(f"{name}: the covariance is not symmetric; compute it with feature_statistics")
    return mu, sigma


def frechet_distance_from_stats(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2), a plain float.

    It can be a tiny negative number (about -1e-12 relative to the traces) for identical statistics.
    """
    mu1, sigma1 = _check_stats(mu1, sigma1, "statistics 1")
    mu2, sigma2 = _check_stats(mu2, sigma2, "statistics 2")
    if mu1.shape != mu2.shape:
        raise MetricInputError(f"the two sets of statistics differ in dimension ({mu1.shape[0]} vs {mu2.shape[0]}); "
                               "compute both from features of the same network and layer")
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_sqrt_product(sigma1, sigma2))


def frechet_distance(real: np.ndarray, fake: np.ndarray) -> float:
    """Frechet distance between the Gaussians fitted to ``real`` and ``fake`` features (N, D) and (M, D)."""
    real = check_features(real, "real features", min_samples=2, purpose="the Frechet distance")
    fake = check_features(fake, "fake features", min_samples=2, purpose="the Frechet distance")
    check_same_dim(real, fake)
    mu1, sigma1 = feature_statistics(real, "real features")
    mu2, sigma2 = feature_statistics(fake, "fake features")
    return frechet_distance_from_stats(mu1, sigma1, mu2, sigma2)
