"""Class accuracy of conditional samples and InfoGAN's best code-to-class accuracy."""
from __future__ import annotations

import numpy as np
import pytest

from genbench.metrics import MetricInputError, class_accuracy, code_accuracy


def one_hot_logits(classes: np.ndarray, num_classes: int) -> np.ndarray:
    return np.eye(num_classes)[classes] * 5.0


def test_class_accuracy_counts_argmax_matches() -> None:
    labels = np.array([0, 1, 2, 3])
    logits = one_hot_logits(np.array([0, 1, 0, 3]), 4)
    assert class_accuracy(logits, labels) == 0.75


def test_code_accuracy_finds_the_permutation() -> None:
    rng = np.random.default_rng(0)
    codes = np.arange(200) % 10
    permutation = rng.permutation(10)
    predicted = permutation[codes]
    predicted[:20] = 0  # 20 wrong-ish rows: at most 180 + the ones that happen to be class 0 right
    accuracy, mapping = code_accuracy(one_hot_logits(predicted, 10), codes)
    assert mapping == {c: int(permutation[c]) for c in range(10)}
    assert accuracy == pytest.approx(np.mean(predicted == permutation[codes]))


def test_code_accuracy_is_invariant_to_relabelling_codes() -> None:
    rng = np.random.default_rng(1)
    codes = rng.integers(0, 10, 300)
    logits = rng.normal(size=(300, 10))
    relabel = rng.permutation(10)
    assert code_accuracy(logits, codes)[0] == pytest.approx(code_accuracy(logits, relabel[codes])[0])


@pytest.mark.parametrize("labels,match", [(np.array([0, 1, 2]), "expected 4 integers"),
                                          (np.array([0.0, 1.0, 2.0, 3.0]), "dtype float64"),
                                          (np.array([0, 1, 2, -1]), ">= 0"),
                                          (np.array([0, 1, 2, 9]), "beyond the classifier's 4 classes")])
def test_bad_labels_name_the_input(labels: np.ndarray, match: str) -> None:
    with pytest.raises(MetricInputError, match=match):
        class_accuracy(one_hot_logits(np.arange(4), 4), labels)
