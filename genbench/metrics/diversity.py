"""Diversity of a multimodal translator: the mean perceptual distance between outputs of one input under
different random styles (MUNIT, Huang et al. 2018, sec. 5.2 and Table 1, after BicycleGAN, Zhu et al. 2017,
sec. 4.1: "the average LPIPS distance between 19 pairs of random outputs, for 100 inputs").

``outputs`` is (inputs, styles, ...): ``styles`` outputs of each input. The pairs are the consecutive outputs
(j, j + 1) of each input, ``styles - 1`` per input (19 for 20 outputs), so every output is drawn independently
and no pair shares an output twice. A pair of identical outputs is at distance exactly 0 without being
measured: a deterministic translator (CycleGAN) has diversity 0 by construction, not up to float noise.
The distance (LPIPS in ``genbench.jobs.evaluate_translation``) is given, so this file stays free of networks.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from genbench.metrics._checks import MetricInputError

__all__ = ["consecutive_pairs", "diversity"]

Distance = Callable[[np.ndarray, np.ndarray], np.ndarray]


def consecutive_pairs(outputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(inputs, styles, ...) -> the first and the second outputs of the pairs (j, j + 1) of each input, each
    (inputs * (styles - 1), ...)."""
    if outputs.ndim < 3 or outputs.shape[0] < 1 or outputs.shape[1] < 2:
        raise MetricInputError(f"diversity: outputs must be (inputs >= 1, styles >= 2, ...), got {outputs.shape}")
    item = outputs.shape[2:]
    return outputs[:, :-1].reshape(-1, *item), outputs[:, 1:].reshape(-1, *item)


def diversity(outputs: np.ndarray, distance: Distance) -> float:
    """Mean ``distance`` over the consecutive pairs of each input's outputs; identical pairs count 0 unmeasured."""
    first, second = consecutive_pairs(outputs)
    differ = (first != second).reshape(len(first), -1).any(axis=1)
    values = np.zeros(len(first), dtype=np.float64)
    if differ.any():
        values[differ] = distance(first[differ], second[differ])
    return float(values.mean())
