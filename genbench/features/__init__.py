"""Feature extractors: networks that map uint8 images to the feature spaces the metrics are computed in.

Each extractor is registered by the name of its feature space (``domain``, later ``inception``), which is
the suffix of the metric names (``fd_domain``, ``fd_inception``). An entry says how to load the network
from its file and how to run it; the metric maths itself lives in ``genbench.metrics``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from genbench.features import domain
from genbench.registry import Registry


@dataclass(frozen=True)
class FeatureExtractor:
    """``load(path, *, device) -> (model, info)``; ``extract(model, images_uint8, *, batch_size, device)``
    returns ``(features float32 (N, feature_dim), logits float32 (N, classes) or None)``."""

    load: Callable
    extract: Callable
    feature_dim: int


EXTRACTORS: Registry[FeatureExtractor] = Registry("feature extractor")
EXTRACTORS.register("domain")(FeatureExtractor(load=domain.load_classifier, extract=domain.extract,
                                               feature_dim=domain.FEATURE_DIM))

__all__ = ["EXTRACTORS", "FeatureExtractor"]
