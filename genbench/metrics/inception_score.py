"""Inception Score from a classifier's predictions on generated images.

Salimans et al. 2016, "Improved Techniques for Training GANs" (https://arxiv.org/abs/1606.03498),
section 4: IS = exp(E_x KL(p(y|x) || p(y))), with p(y) the marginal over the images of a split.

As in the paper's code and torch-fidelity, the N predictions are cut into ``splits`` consecutive,
near-equal parts (rows ``i*N//splits`` to ``(i+1)*N//splits``), the score is computed per part with that
part's own marginal, and the mean and population standard deviation (ddof=0) over parts are returned.
The order of rows is the caller's: shuffle before calling if it is not random. Everything is float64,
``_ROWS`` rows at a time, and logits go through a stable log-softmax (max subtracted), so no probability
is rounded to log(0). Per split, E_x KL = mean_x sum_y p log p(y|x) - sum_y p(y) log p(y) (the same sum,
regrouped), so rows are visited once.

genbench feeds it the softmax of the per-dataset domain classifier (``is_domain``); the number is then
bounded by the number of classes C: C for confident predictions spread evenly over the classes, 1 for
identical predictions.
"""
from __future__ import annotations

import numpy as np

from genbench.metrics._checks import MetricInputError, check_features, check_positive_int

__all__ = ["inception_score", "log_softmax"]


#: rows converted to float64 at a time (bounds the temporaries; sums over rows are accumulated)
_ROWS = 1024


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax in float64: ``z - max(z) - log(sum(exp(z - max(z))))``."""
    return _log_probs(np.asarray(logits), from_logits=True)[0]


def _log_probs(values: np.ndarray, from_logits: bool) -> tuple[np.ndarray, np.ndarray]:
    """(log p, p) in float64 for rows of logits (softmax, max subtracted: no overflow) or probabilities."""
    if not from_logits:
        p = values.astype(np.float64)
        return np.log(p, out=np.zeros_like(p), where=p > 0), p  # log 0 -> 0: the term p log p is 0 there
    z = np.subtract(values, values.max(axis=1, keepdims=True), dtype=np.float64)
    p = np.exp(z)
    total = p.sum(axis=1, keepdims=True)
    z -= np.log(total)
    p /= total
    return z, p  # p may underflow to 0 where log p is finite: its term p log p is then 0, as it should be


def _check_predictions(values: np.ndarray, from_logits: bool, splits: int) -> np.ndarray:
    name = "logits" if from_logits else "probabilities"
    values = check_features(values, name, min_samples=splits, purpose=f"the Inception Score with {splits} splits")
    if values.shape[1] < 2:
        raise MetricInputError(f"{name}: expected (N, C) predictions over C >= 2 classes, got shape {values.shape}")
    if not from_logits and ((values < 0).any() or not np.allclose(values.sum(axis=1, dtype=np.float64), 1.0,
                                                                    atol=1e-4)):
        raise MetricInputError("probabilities: from_logits=False needs rows of probabilities summing to 1; "
                               "pass logits with from_logits=True otherwise")
    return values


def _split_score(values: np.ndarray, from_logits: bool) -> float:
    """exp(mean_x KL(p(y|x) || p(y))) = exp(mean_x sum_y p log p(y|x) - sum_y p(y) log p(y)) for one split."""
    n = values.shape[0]
    mass, neg_entropy = np.zeros(values.shape[1]), 0.0
    for start in range(0, n, _ROWS):
        log_p, p = _log_probs(values[start:start + _ROWS], from_logits)
        mass += p.sum(axis=0)
        neg_entropy += np.einsum("ij,ij->", p, log_p)
    marginal = mass / n
    # a class no image of the split gives any mass has p(y) = 0 and p(y|x) = 0 throughout: its terms are 0
    log_marginal = np.log(marginal, out=np.zeros_like(marginal), where=marginal > 0)
    return float(np.exp(neg_entropy / n - marginal @ log_marginal))


def inception_score(logits_or_probs: np.ndarray, *, splits: int, from_logits: bool = True) -> tuple[float, float]:
    """(mean, std) over ``splits`` parts of exp(mean KL(p(y|x) || p(y))) for (N, C) logits or probabilities."""
    splits = check_positive_int(splits, "Inception Score splits")
    values = _check_predictions(logits_or_probs, from_logits, splits)
    n = values.shape[0]
    bounds = [(i * n // splits, (i + 1) * n // splits) for i in range(splits)]
    scores = np.array([_split_score(values[a:b], from_logits) for a, b in bounds])
    return float(scores.mean()), float(scores.std())
