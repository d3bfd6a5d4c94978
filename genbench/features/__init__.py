"""Feature extractors: networks that map uint8 images to the feature spaces the metrics are computed in.

Each extractor is registered by the name of its feature space (``domain``, ``inception``), which is
the suffix of the metric names (``fd_domain``, ``fd_inception``). An entry says how to load the network
from its file and how to run it; the metric maths itself lives in ``genbench.metrics``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from genbench.errors import ConfigError
from genbench.features import domain, inception
from genbench.registry import Registry


@dataclass(frozen=True)
class FeatureExtractor:
    """``load(path, *, device) -> (model, info)``; ``extract(model, images_uint8, *, batch_size, device)``
    returns ``(features float32 (N, feature_dim), logits float32 (N, classes) or None)``.
    ``default_file()`` is the weights file to use when none is named (it may fetch it); ``resize`` says how
    images are brought to the network's input size, part of the metric's protocol."""

    load: Callable
    extract: Callable
    feature_dim: int
    default_file: Callable[[], Path]
    resize: str


EXTRACTORS: Registry[FeatureExtractor] = Registry("feature extractor")


def _no_default_classifier() -> Path:
    raise ConfigError("--features domain needs the classifier file: --extractor-file "
                      "results/<profile>/<dataset>/domain/classifier.pt (made by the pipeline)")


EXTRACTORS.register("domain")(FeatureExtractor(load=domain.load_classifier, extract=domain.extract,
                                               feature_dim=domain.FEATURE_DIM, default_file=_no_default_classifier,
                                               resize="none (native resolution)"))
EXTRACTORS.register("inception")(FeatureExtractor(load=inception.load_inception, extract=inception.extract,
                                                  feature_dim=inception.FEATURE_DIM,
                                                  default_file=inception.default_inception_file,
                                                  resize=inception.RESIZE))

__all__ = ["EXTRACTORS", "FeatureExtractor"]
