"""PSNR against hand computations: per image then averaged, BT.601 luma, border crop, identical images."""
from __future__ import annotations

import math

import numpy as np
import pytest

from genbench.metrics import MetricInputError
from genbench.metrics.psnr import mean_psnr, psnr, rgb_to_y


def test_psnr_by_hand():
    a = np.zeros((2, 1, 4, 4), dtype=np.uint8)
    b = a.copy()
    b[0, 0, 0, 0] = 255  # MSE 255^2 / 16: PSNR = 10 log10(16)
    b[1] = 10  # MSE 100: PSNR = 10 log10(255^2 / 100)
    expected = np.array([10 * math.log10(16), 10 * math.log10(255**2 / 100)])
    np.testing.assert_allclose(psnr(a, b), expected, rtol=1e-12)
    np.testing.assert_allclose(psnr(b, a), expected, rtol=1e-12)
    # the mean of per-image values, not the PSNR of the pooled MSE
    assert mean_psnr(a, b) == pytest.approx(expected.mean(), rel=1e-12)
    assert mean_psnr(a, b) != pytest.approx(10 * math.log10(255**2 / ((255**2 / 16 + 100) / 2)))


def test_identical_images_give_inf_or_the_cap():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (3, 3, 8, 8), dtype=np.uint8)
    b = a.copy()
    b[1, 0, 0, 0] ^= 1
    with np.errstate(all="raise"):  # no division warning on the way
        values = psnr(a, b)
    assert values[0] == math.inf and values[2] == math.inf and math.isfinite(values[1])
    assert mean_psnr(a, b) == math.inf
    capped = psnr(a, b, max_db=100.0)
    assert capped[0] == 100.0 and capped[1] == pytest.approx(values[1])
    assert mean_psnr(a, b, max_db=100.0) == pytest.approx((200.0 + values[1]) / 3)


def test_y_channel_by_hand():
    a = np.zeros((1, 3, 2, 2), dtype=np.uint8)
    b = a.copy()
    b[0, 0] = 255  # pure red: Y rises by 65.481 everywhere
    y = rgb_to_y(b)
    assert y.shape == (1, 1, 2, 2)
    np.testing.assert_allclose(y, 16 + 65.481)
    np.testing.assert_allclose(rgb_to_y(np.full((1, 3, 1, 1), 255, np.uint8)), 235.0)  # BT.601 white
    assert psnr(a, b, y_channel=True)[0] == pytest.approx(10 * math.log10(255**2 / 65.481**2))
    assert psnr(a, b)[0] == pytest.approx(10 * math.log10(255**2 / (255**2 / 3)))


def test_crop_border_by_hand():
    a = np.zeros((1, 1, 6, 6), dtype=np.uint8)
    b = a.copy()
    b[0, 0, 0, :] = 200  # only the border differs
    b[0, 0, 2, 2] = 4  # one inner pixel: MSE 16 over the 4x4 centre
    assert psnr(a, b, crop_border=1)[0] == pytest.approx(10 * math.log10(255**2 * 16 / 16))
    assert psnr(a, b, crop_border=1)[0] > psnr(a, b)[0]


@pytest.mark.parametrize("kwargs, match", [
    ({"a": np.zeros((1, 3, 8, 8), np.float32)}, "uint8"),
    ({"b": np.zeros((1, 3, 8, 9), np.uint8)}, "differ in shape"),
    ({"a": np.zeros((1, 1, 8, 8), np.uint8), "b": np.zeros((1, 1, 8, 8), np.uint8), "y_channel": True}, "RGB"),
    ({"crop_border": 4}, "crop_border"),
    ({"a": np.zeros((0, 3, 8, 8), np.uint8), "b": np.zeros((0, 3, 8, 8), np.uint8)}, "empty"),
])
def test_bad_inputs(kwargs, match):
    args = {"a": np.zeros((1, 3, 8, 8), np.uint8), "b": np.zeros((1, 3, 8, 8), np.uint8), **kwargs}
    with pytest.raises(MetricInputError, match=match):
        psnr(args.pop("a"), args.pop("b"), **args)
