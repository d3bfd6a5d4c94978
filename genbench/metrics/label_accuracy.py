"""How well generated images carry the label they were drawn with, judged by a classifier.

- ``class_accuracy``: a conditional model drew image i for class y_i; the fraction the classifier assigns
  to y_i (the "classification accuracy score" style check of conditional GANs, e.g. Odena et al. 2017).
- ``code_accuracy``: InfoGAN (Chen et al. 2016, sec. 7.1) draws image i with categorical code c_i, whose
  values carry no class names; the accuracy of the best one-to-one code -> class assignment (Hungarian
  method on the code x class confusion counts), which is how the paper's 5 % MNIST error is measured.

Pure functions over (N, C) classifier logits and (N,) integer labels.
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from genbench.metrics._checks import MetricInputError, check_features

__all__ = ["class_accuracy", "code_accuracy"]


def _predictions(logits: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    logits = check_features(logits, "logits", min_samples=1, purpose="label accuracy")
    labels = np.asarray(labels)
    if labels.shape != (logits.shape[0],) or not np.issubdtype(labels.dtype, np.integer):
        raise MetricInputError(f"labels: expected {logits.shape[0]} integers (one per logit row), got "
                               f"shape {labels.shape} and dtype {labels.dtype}")
    if labels.min() < 0:
        raise MetricInputError(f"labels: must be >= 0, got {labels.min()}")
    return logits.argmax(axis=1), labels


def class_accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of rows whose arg-max class equals the label it was generated for."""
    predicted, labels = _predictions(logits, labels)
    if labels.max() >= logits.shape[1]:
        raise MetricInputError(f"labels: class {labels.max()} is beyond the classifier's {logits.shape[1]} classes")
    return float((predicted == labels).mean())


def code_accuracy(logits: np.ndarray, codes: np.ndarray) -> tuple[float, dict[int, int]]:
    """(accuracy, code -> class) of the best one-to-one assignment of code values to predicted classes.

    With more code values than classes, the surplus codes stay unassigned and count as errors.
    """
    predicted, codes = _predictions(logits, codes)
    counts = np.zeros((int(codes.max()) + 1, logits.shape[1]), dtype=np.int64)
    np.add.at(counts, (codes, predicted), 1)
    rows, cols = linear_sum_assignment(counts, maximize=True)
    return float(counts[rows, cols].sum() / len(codes)), {int(r): int(c) for r, c in zip(rows, cols)}
