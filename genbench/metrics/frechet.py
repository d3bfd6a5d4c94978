"""Frechet distance between Gaussians fitted to two feature sets (FID when the features are Inception's).

Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash Equilibrium"
(https://arxiv.org/abs/1706.08500), eq. (6):

    d^2 = ||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^{1/2})

The computation follows pytorch-fid / clean-fid line by line so that numbers are comparable with
theirs: float64 statistics, ``np.cov`` with ddof=1, ``scipy.linalg.sqrtm`` of the product S1 S2, and,
when that product is singular (its square root is not finite), ``eps`` added to both diagonals before
taking the root again. A small imaginary part left by ``sqrtm`` (numerical noise) is dropped; one larger
than 1e-3 on the diagonal is an error, exactly as in the references.
"""
from __future__ import annotations

import warnings

import numpy as np
from scipy import linalg

__all__ = ["feature_statistics", "frechet_distance_from_stats", "frechet_distance"]

#: the largest imaginary part on the diagonal of sqrtm(S1 S2) that is treated as numerical noise
IMAGINARY_TOLERANCE = 1e-3


def _check_features(features: np.ndarray, name: str) -> np.ndarray:
    features = np.asarray(features)
    if features.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D (N, D) feature array, got shape {features.shape}")
    if features.shape[0] < 2:
        raise ValueError(f"{name}: need at least 2 feature vectors for a covariance, got {features.shape[0]}")
    if not np.isfinite(features).all():
        raise ValueError(f"{name}: features contain NaN or infinity")
    return features


def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and unbiased covariance (D, D) of ``features`` (N, D), both float64 whatever the input."""
    features = _check_features(features, "features").astype(np.float64, copy=False)
    mu = features.mean(axis=0)
    sigma = np.cov(features, rowvar=False)  # ddof=1, as pytorch-fid and clean-fid
    return mu, np.atleast_2d(sigma)


def frechet_distance_from_stats(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray,
                                eps: float = 1e-6) -> float:
    """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2).

    ``eps`` is the diagonal offset used only when ``sqrtm(sigma1 @ sigma2)`` is not finite (a singular
    product, e.g. fewer samples than dimensions): the root is then recomputed from
    ``(sigma1 + eps I) @ (sigma2 + eps I)``, as pytorch-fid does. Returns a plain float; it can be a
    tiny negative number (about -1e-10) for identical statistics, as in the references.
    """
    mu1 = np.atleast_1d(np.asarray(mu1, dtype=np.float64))
    mu2 = np.atleast_1d(np.asarray(mu2, dtype=np.float64))
    sigma1 = np.atleast_2d(np.asarray(sigma1, dtype=np.float64))
    sigma2 = np.atleast_2d(np.asarray(sigma2, dtype=np.float64))
    if mu1.shape != mu2.shape or mu1.ndim != 1:
        raise ValueError(f"mean vectors must be 1-D of equal length, got {mu1.shape} and {mu2.shape}")
    d = mu1.shape[0]
    if sigma1.shape != (d, d) or sigma2.shape != (d, d):
        raise ValueError(f"covariances must be ({d}, {d}), got {sigma1.shape} and {sigma2.shape}")

    diff = mu1 - mu2
    covmean = linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        # Singular product: regularise both covariances (pytorch-fid's fallback, same eps).
        warnings.warn(f"Frechet distance: singular covariance product; adding {eps} to the diagonals",
                      RuntimeWarning, stacklevel=2)
        offset = np.eye(d) * eps
        covmean = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))

    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=IMAGINARY_TOLERANCE):
            largest = np.max(np.abs(covmean.imag))
            raise ValueError(f"sqrtm(sigma1 @ sigma2) has a large imaginary component ({largest:.3g}); "
                             "the covariance estimates are not valid (too few samples or non-finite features?)")
        covmean = covmean.real

    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean))


def frechet_distance(real: np.ndarray, fake: np.ndarray, eps: float = 1e-6) -> float:
    """Frechet distance between the Gaussians fitted to ``real`` and ``fake`` features (N, D) and (M, D)."""
    real = _check_features(real, "real")
    fake = _check_features(fake, "fake")
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"real and fake features differ in dimension: {real.shape[1]} vs {fake.shape[1]}")
    mu1, sigma1 = feature_statistics(real)
    mu2, sigma2 = feature_statistics(fake)
    return frechet_distance_from_stats(mu1, sigma1, mu2, sigma2, eps=eps)
