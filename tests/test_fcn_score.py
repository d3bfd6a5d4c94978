"""FCN-score: the confusion matrix and the three scores of pix2pix/CycleGAN, by hand and against their code."""
from __future__ import annotations

import numpy as np
import pytest

from genbench.metrics import MetricInputError
from genbench.metrics.fcn_score import class_scores, confusion_matrix, fcn_scores

# Two 2x3 "images", three classes; (true, predicted) per pixel: (0,0) (0,1) (1,1) | (1,1) (2,2) (2,0).
TRUE = np.array([[[0, 0, 1]], [[1, 2, 2]]], dtype=np.uint8)
PRED = np.array([[[0, 1, 1]], [[1, 2, 0]]], dtype=np.uint8)


def reference_scores(hist: np.ndarray) -> tuple[float, float, float]:
    """``get_scores`` of pytorch-CycleGAN-and-pix2pix/scripts/eval_cityscapes/util.py."""
    acc = np.diag(hist).sum() / (hist.sum() + 1e-12)
    cl_acc = np.diag(hist) / (hist.sum(1) + 1e-12)
    iu = np.diag(hist) / (hist.sum(1) + hist.sum(0) - np.diag(hist) + 1e-12)
    return acc, np.nanmean(cl_acc), np.nanmean(iu)


def test_confusion_matrix_counts_true_rows_and_predicted_columns() -> None:
    expected = np.array([[1, 1, 0],
                         [0, 2, 0],
                         [1, 0, 1]])
    confusion = confusion_matrix(PRED, TRUE, 3)
    np.testing.assert_array_equal(confusion, expected)
    assert confusion.dtype == np.int64


def test_scores_of_a_hand_computed_confusion() -> None:
    scores = fcn_scores(confusion_matrix(PRED, TRUE, 3))
    assert scores["per_pixel_accuracy"] == pytest.approx(4 / 6)
    assert scores["per_class_accuracy"] == pytest.approx((1 / 2 + 2 / 2 + 1 / 2) / 3)
    # IoU = diag / (row + column - diag): 1/(2+2-1), 2/(2+3-2), 1/(2+1-1)
    assert scores["class_iou"] == pytest.approx((1 / 3 + 2 / 3 + 1 / 2) / 3)
    accuracy, iou = class_scores(confusion_matrix(PRED, TRUE, 3))
    np.testing.assert_allclose(accuracy, [1 / 2, 1, 1 / 2])
    np.testing.assert_allclose(iou, [1 / 3, 2 / 3, 1 / 2])


def test_a_perfect_prediction_scores_one() -> None:
    maps = np.random.default_rng(0).integers(0, 11, size=(5, 28, 28)).astype(np.uint8)
    assert fcn_scores(confusion_matrix(maps, maps, 11)) == {"per_pixel_accuracy": 1.0, "per_class_accuracy": 1.0,
                                                            "class_iou": 1.0}


def test_agrees_with_the_reference_code_when_every_class_occurs() -> None:
    rng = np.random.default_rng(1)
    true = rng.integers(0, 5, size=(8, 16, 16))
    pred = np.where(rng.random(true.shape) < 0.7, true, rng.integers(0, 5, size=true.shape))
    confusion = confusion_matrix(pred, true, 5)
    hist = np.bincount(5 * true.ravel() + pred.ravel(), minlength=25).reshape(5, 5)  # their fast_hist
    np.testing.assert_array_equal(confusion, hist)
    ours = fcn_scores(confusion)
    assert (ours["per_pixel_accuracy"], ours["per_class_accuracy"], ours["class_iou"]) \
        == pytest.approx(reference_scores(hist), abs=1e-9)


def test_a_class_absent_from_the_ground_truth_is_nan_and_left_out_of_the_means() -> None:
    true = np.array([[0, 0, 1, 1]])
    pred = np.array([[0, 3, 1, 1]])  # class 3 predicted once, never true; class 2 nowhere
    accuracy, iou = class_scores(confusion_matrix(pred, true, 4))
    assert np.isnan(accuracy[2:]).all() and np.isnan(iou[2:]).all()
    scores = fcn_scores(confusion_matrix(pred, true, 4))
    assert scores["per_pixel_accuracy"] == pytest.approx(3 / 4)
    assert scores["per_class_accuracy"] == pytest.approx((1 / 2 + 1) / 2)
    assert scores["class_iou"] == pytest.approx((1 / 2 + 1) / 2)


def test_confusion_matrices_of_batches_add_up() -> None:
    rng = np.random.default_rng(2)
    true, pred = rng.integers(0, 4, size=(2, 6, 8, 8))
    whole = confusion_matrix(pred, true, 4)
    np.testing.assert_array_equal(whole, confusion_matrix(pred[:2], true[:2], 4) + confusion_matrix(pred[2:], true[2:], 4))


@pytest.mark.parametrize("pred,true,num_classes,match", [
    (PRED[:1], TRUE, 3, "differ in shape"),
    (PRED.astype(np.float32), TRUE, 3, "predicted maps: expected integer"),
    (np.zeros_like(TRUE), TRUE, 2, r"true maps: class indices must lie in \[0, 2\)"),
    (PRED - 1.0, TRUE, 3, "expected integer"),
    (PRED.astype(np.int8) - 1, TRUE, 3, r"predicted maps: class indices must lie in \[0, 3\), got values in \[-1"),
    (PRED[:0], TRUE[:0], 3, "empty"),
    (PRED, TRUE, 0, "num_classes must be a positive integer"),
])
def test_bad_maps_are_one_line_value_errors(pred, true, num_classes, match) -> None:
    with pytest.raises(MetricInputError, match=match) as err:
        confusion_matrix(pred, true, num_classes)
    assert isinstance(err.value, ValueError) and "\n" not in str(err.value)


@pytest.mark.parametrize("confusion,match", [(np.ones((2, 3)), "square"), (np.zeros((3, 3)), "no pixels"),
                                             (-np.eye(2), ">= 0"), (np.array([["a"]]), "pixel counts")])
def test_bad_confusion_matrices_are_value_errors(confusion, match) -> None:
    with pytest.raises(MetricInputError, match=match):
        fcn_scores(confusion)
