"""SSIM (Wang et al. 2004) against its defining properties and a value computed with scikit-image 0.24."""
from __future__ import annotations

import numpy as np
import pytest

from genbench.metrics import MetricInputError, ssim


def test_identical_images_score_one_and_noise_lowers_the_score() -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (3, 1, 28, 28)).astype(np.float64)
    np.testing.assert_allclose(ssim(a, a), 1.0)
    slight, strong = (np.clip(a + rng.normal(0, sd, a.shape), 0, 255) for sd in (10, 60))
    assert (ssim(a, strong) < ssim(a, slight)).all() and (ssim(a, slight) < 1).all()
    np.testing.assert_allclose(ssim(a, slight), ssim(slight, a))  # symmetric


def test_matches_scikit_image() -> None:
    # skimage.metrics.structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
    # data_range=255) on these arrays gave 0.8977306655421077 (scikit-image 0.24.0)
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (1, 1, 28, 28)).astype(np.float64)
    b = np.clip(a + rng.normal(0, 40, a.shape), 0, 255)
    np.testing.assert_allclose(ssim(a, b), [0.8977306655421077], rtol=1e-10)


def test_bad_shapes_name_the_problem() -> None:
    with pytest.raises(MetricInputError, match="one shape"):
        ssim(np.zeros((2, 1, 28, 28)), np.zeros((3, 1, 28, 28)))
    with pytest.raises(MetricInputError, match="smaller than the 11x11 window"):
        ssim(np.zeros((2, 1, 8, 8)), np.zeros((2, 1, 8, 8)))
