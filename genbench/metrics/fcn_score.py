"""FCN-score: how well a segmentation network trained on real images recovers the label map a generated
image was made from (pix2pix, Isola et al. 2017, https://arxiv.org/abs/1611.07004, sec. 4.2 and Table 1;
CycleGAN, Zhu et al. 2017, https://arxiv.org/abs/1703.10593, Table 2). Its "ground truth" row is the same
network on real test images.

The numbers are those of the papers' evaluation code (``scripts/eval_cityscapes`` of
pytorch-CycleGAN-and-pix2pix): one confusion matrix accumulated over every pixel of every image
(``fast_hist``: rows are the true class, columns the predicted one), then

- per-pixel accuracy = trace / total;
- per-class accuracy of class c = confusion[c, c] / row sum c (the class's recall);
- IoU of class c = confusion[c, c] / (row sum c + column sum c - confusion[c, c]);

and the two class means are over the classes that occur in the ground truth. A class with no true pixel
has no accuracy or IoU: it is NaN in ``class_scores`` and left out of the means. (The reference code adds
1e-12 to every denominator instead, which scores such a class 0 and so counts it in the mean; the two agree
whenever every class occurs, as on a full test split.) Unlike ``fast_hist``, a label outside
``[0, num_classes)`` is an error rather than silently dropped: our label maps have no "void" label.
"""
from __future__ import annotations

import numpy as np

from genbench.metrics._checks import MetricInputError, check_positive_int

__all__ = ["class_scores", "confusion_matrix", "fcn_scores"]


def _check_maps(maps: np.ndarray, name: str, num_classes: int) -> np.ndarray:
    maps = np.asarray(maps)
    if not np.issubdtype(maps.dtype, np.integer):
        raise MetricInputError(f"{name}: expected integer class indices, got dtype {maps.dtype}")
    if maps.size == 0:
        raise MetricInputError(f"{name}: empty, got shape {maps.shape}; evaluate at least one pixel")
    low, high = int(maps.min()), int(maps.max())
    if low < 0 or high >= num_classes:
        raise MetricInputError(f"{name}: class indices must lie in [0, {num_classes}), got values in "
                               f"[{low}, {high}]; check num_classes and the label maps")
    return maps


def confusion_matrix(pred_maps: np.ndarray, true_maps: np.ndarray, num_classes: int) -> np.ndarray:
    """int64 (num_classes, num_classes) pixel counts: entry [t, p] counts pixels of true class t predicted p.

    ``pred_maps`` and ``true_maps`` are integer arrays of one shape, typically (N, H, W); every pixel of
    every image goes into the one matrix (the papers' ``fast_hist`` summed over frames). Matrices of
    disjoint batches add up to the matrix of their union.
    """
    num_classes = check_positive_int(num_classes, "num_classes")
    pred = _check_maps(pred_maps, "predicted maps", num_classes)
    true = _check_maps(true_maps, "true maps", num_classes)
    if pred.shape != true.shape:
        raise MetricInputError(f"predicted maps and true maps differ in shape ({pred.shape} vs {true.shape}); "
                               "predict one label per pixel of each true map")
    index = num_classes * true.ravel().astype(np.int64) + pred.ravel()
    return np.bincount(index, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def _check_confusion(confusion: np.ndarray) -> np.ndarray:
    confusion = np.asarray(confusion)
    if confusion.ndim != 2 or confusion.shape[0] != confusion.shape[1] or confusion.shape[0] == 0:
        raise MetricInputError(f"confusion: expected a square (K, K) matrix, got shape {confusion.shape}")
    if not (np.issubdtype(confusion.dtype, np.integer) or np.issubdtype(confusion.dtype, np.floating)):
        raise MetricInputError(f"confusion: expected pixel counts, got dtype {confusion.dtype}")
    if not np.isfinite(confusion).all() or (confusion < 0).any():
        raise MetricInputError("confusion: counts must be finite and >= 0; build it with confusion_matrix")
    if confusion.sum() == 0:
        raise MetricInputError("confusion: holds no pixels; evaluate at least one image")
    return confusion.astype(np.float64)


def class_scores(confusion: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(accuracy, IoU), float64 (K,) each; NaN for a class with no pixel in the ground truth."""
    confusion = _check_confusion(confusion)
    diag, true_count, pred_count = np.diag(confusion), confusion.sum(axis=1), confusion.sum(axis=0)
    present = true_count > 0
    accuracy = np.full(len(diag), np.nan)
    iou = np.full(len(diag), np.nan)
    accuracy[present] = diag[present] / true_count[present]
    iou[present] = diag[present] / (true_count + pred_count - diag)[present]  # > 0: the class has true pixels
    return accuracy, iou


def fcn_scores(confusion: np.ndarray) -> dict[str, float]:
    """The three FCN-scores of the papers' tables: per-pixel accuracy, mean per-class accuracy, mean class IoU.

    The means run over the classes present in the ground truth (see the module docstring).
    """
    accuracy, iou = class_scores(confusion)
    confusion = np.asarray(confusion, dtype=np.float64)
    return {"per_pixel_accuracy": float(np.trace(confusion) / confusion.sum()),
            "per_class_accuracy": float(np.nanmean(accuracy)),
            "class_iou": float(np.nanmean(iou))}
