"""Inception Score from a classifier's predictions on generated images.

Salimans et al. 2016, "Improved Techniques for Training GANs" (https://arxiv.org/abs/1606.03498),
section 4: IS = exp(E_x KL(p(y|x) || p(y))), with p(y) the marginal over the images of a split.

As in the paper's code and torch-fidelity, the N predictions are cut into ``splits`` consecutive,
near-equal parts (rows ``i*N//splits`` to ``(i+1)*N//splits``), the score is computed per part with that
part's own marginal, and the mean and population standard deviation (ddof=0) over parts are returned.
The order of rows is the caller's: shuffle before calling if it is not random. Everything is float64
and logits go through a stable log-softmax (max subtracted), so no probability is rounded to log(0).

genbench feeds it the softmax of the per-dataset domain classifier (``is_domain``); the number is then
bounded by the number of classes C: C for confident predictions spread evenly over the classes, 1 for
identical predictions.
"""
from __future__ import annotations

import numpy as np

__all__ = ["inception_score", "log_softmax"]


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax in float64: ``z - max(z) - log(sum(exp(z - max(z))))``."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def _log_probs(logits_or_probs: np.ndarray, from_logits: bool) -> np.ndarray:
    values = np.asarray(logits_or_probs, dtype=np.float64)
    if values.ndim != 2 or values.shape[1] < 2:
        raise ValueError(f"expected (N, C) predictions with C >= 2, got shape {values.shape}")
    if not np.isfinite(values).all():
        raise ValueError("Inception Score: predictions contain NaN or infinity")
    if from_logits:
        return log_softmax(values)
    if (values < 0).any() or not np.allclose(values.sum(axis=1), 1.0, atol=1e-4):
        raise ValueError("Inception Score: from_logits=False needs rows of probabilities summing to 1")
    with np.errstate(divide="ignore"):
        return np.log(values)  # log(0) = -inf only where p = 0, whose term 0 * log 0 is dropped below


def _split_score(log_p: np.ndarray) -> float:
    p = np.exp(log_p)
    # p(y) > 0 wherever some p(y|x) > 0; a class no image gives any mass has log p(y) = -inf, but
    # its terms are all p(y|x) = 0 and are dropped: KL terms with p(y|x) = 0 contribute 0 (p log p -> 0).
    with np.errstate(divide="ignore", invalid="ignore"):
        log_marginal = np.log(p.mean(axis=0))
        terms = np.where(p > 0, p * (log_p - log_marginal), 0.0)
    return float(np.exp(terms.sum(axis=1).mean()))


def inception_score(logits_or_probs: np.ndarray, *, splits: int, from_logits: bool = True) -> tuple[float, float]:
    """(mean, std) over ``splits`` parts of exp(mean KL(p(y|x) || p(y))) for (N, C) logits or probabilities."""
    log_p = _log_probs(logits_or_probs, from_logits)
    n = log_p.shape[0]
    if not 1 <= splits <= n:
        raise ValueError(f"Inception Score: splits must be between 1 and the number of images ({n}), got {splits}")
    scores = np.array([_split_score(log_p[i * n // splits:(i + 1) * n // splits]) for i in range(splits)])
    return float(scores.mean()), float(scores.std())
