"""Metric maths: pure functions from feature arrays to plain floats.

No I/O, caching or tracking here (those wrap these functions), and no imports of mlflow, snakemake or
``genbench.models``. One metric per file; the feature extractors live in ``genbench.features``. Inputs a
metric cannot use raise ``MetricInputError`` (a ``ValueError``) with a one-line message naming the input.
"""
from __future__ import annotations

from genbench.metrics._checks import MetricInputError
from genbench.metrics.density_coverage import density_coverage
from genbench.metrics.diversity import diversity
from genbench.metrics.fcn_score import class_scores, confusion_matrix, fcn_scores
from genbench.metrics.frechet import feature_statistics, frechet_distance, frechet_distance_from_stats
from genbench.metrics.inception_score import inception_score
from genbench.metrics.kid import effective_subset_size, kernel_inception_distance
from genbench.metrics.label_accuracy import class_accuracy, code_accuracy
from genbench.metrics.precision_recall import precision_recall
from genbench.metrics.psnr import mean_psnr, psnr
from genbench.metrics.ssim import ssim
from genbench.metrics.stroke_iou import stroke_iou

__all__ = [
    "MetricInputError",
    "class_accuracy",
    "class_scores",
    "confusion_matrix",
    "code_accuracy",
    "density_coverage",
    "diversity",
    "effective_subset_size",
    "fcn_scores",
    "feature_statistics",
    "frechet_distance",
    "frechet_distance_from_stats",
    "inception_score",
    "kernel_inception_distance",
    "mean_psnr",
    "precision_recall",
    "psnr",
    "ssim",
    "stroke_iou",
]
