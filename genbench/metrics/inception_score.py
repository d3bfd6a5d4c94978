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

from genbench.metrics._checks import MetricInputError, check_features, check_positive_int

__all__ = ["inception_score", "log_softmax"]


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax in float64: ``z - max(z) - log(sum(exp(z - max(z))))``."""
    return _log_probs_from_logits(np.asarray(logits, dtype=np.float64))[0]


def _log_probs_from_logits(logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(log p, p) of the row-wise softmax of float64 ``logits`` (max subtracted: no overflow)."""
    z = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(z)
    total = p.sum(axis=1, keepdims=True)
    z -= np.log(total)
    p /= total
    return z, p  # p may underflow to 0 where log p is finite: its term p log p is then 0, as it should be


def _log_probs(logits_or_probs: np.ndarray, from_logits: bool, min_rows: int) -> tuple[np.ndarray, np.ndarray]:
    name = "logits" if from_logits else "probabilities"
    values = check_features(logits_or_probs, name, min_samples=min_rows,
                            purpose=f"the Inception Score with {min_rows} splits")
    if values.shape[1] < 2:
        raise MetricInputError(f"{name}: expected (N, C) predictions over C >= 2 classes, got shape {values.shape}")
    values = values.astype(np.float64, copy=False)
    if from_logits:
        return _log_probs_from_logits(values)
    if (values < 0).any() or not np.allclose(values.sum(axis=1), 1.0, atol=1e-4):
        raise MetricInputError("probabilities: from_logits=False needs rows of probabilities summing to 1; "
                               "pass logits with from_logits=True otherwise")
    # log 0 is replaced by 0: the term p log p with p = 0 is 0
    return np.log(values, out=np.zeros_like(values), where=values > 0), values


def _split_score(log_p: np.ndarray, p: np.ndarray) -> float:
    """exp(mean_x KL(p(y|x) || p(y))) = exp(mean_x sum_y p log p(y|x) - sum_y p(y) log p(y)) for one split."""
    marginal = p.mean(axis=0)
    # a class no image of the split gives any mass has p(y) = 0 and p(y|x) = 0 throughout: its terms are 0
    log_marginal = np.log(marginal, out=np.zeros_like(marginal), where=marginal > 0)
    return float(np.exp(np.einsum("ij,ij->", p, log_p) / p.shape[0] - marginal @ log_marginal))


def inception_score(logits_or_probs: np.ndarray, *, splits: int, from_logits: bool = True) -> tuple[float, float]:
    """(mean, std) over ``splits`` parts of exp(mean KL(p(y|x) || p(y))) for (N, C) logits or probabilities."""
    splits = check_positive_int(splits, "Inception Score splits")
    log_p, p = _log_probs(logits_or_probs, from_logits, splits)
    n = p.shape[0]
    bounds = [(i * n // splits, (i + 1) * n // splits) for i in range(splits)]
    scores = np.array([_split_score(log_p[a:b], p[a:b]) for a, b in bounds])
    return float(scores.mean()), float(scores.std())
