"""MNIST-M (Ganin & Lempitsky 2015, https://arxiv.org/abs/1409.7495): each MNIST digit blended onto a
random 28x28 patch of a real photo by per-channel absolute difference, ``|patch - digit|``, as in the
paper's construction (their photos were BSDS500; ours are the package photos of ``genbench.data.photos``).

Built from three pinned package files (MNIST's wheel and the two photo wheels) with a fixed seed, so every
byte is reproducible. Test-split backgrounds come only from the test photos. Beside each image:

- ``digits``: the source MNIST digit, uint8 (N, 1, 28, 28) — the MNIST side of CycleGAN's unpaired domains;
- ``masks``: uint8 (N, 28, 28), 1 where the digit's stroke is (MNIST intensity >= 128), else 0;
- ``label_maps``: uint8 (N, 28, 28), 0 for background and 1 + digit class on the stroke — the 11-class
  per-pixel labels of pix2pix's input and of the FCN-score.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genbench.data import mnist, photos
from genbench.data.base import DATASETS, write_prepared

SEED = 20150928  # fixed: the build is a function of the package files alone
STROKE_THRESHOLD = 128
LABEL_NAMES = ("background",) + tuple(f"digit {d}" for d in range(10))
EXTRA_DOCS = {
    "digits": "uint8 (N, 1, H, W): the MNIST digit each image was made from",
    "masks": "uint8 (N, H, W): 1 on the digit's stroke (MNIST >= 128), 0 elsewhere",
    "label_maps": "uint8 (N, H, W): 0 background, 1 + digit class on the stroke (11 classes)",
}


def blend(digits: np.ndarray, patches: np.ndarray) -> np.ndarray:
    """uint8 (N, 3, H, W) ``|patch - digit|`` of uint8 digits (N, 1, H, W) and photo patches (N, 3, H, W)."""
    return np.abs(patches.astype(np.int16) - digits.astype(np.int16)).astype(np.uint8)


def label_maps(digits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """uint8 (N, H, W): 0 off the stroke, 1 + label on it."""
    stroke = digits[:, 0] >= STROKE_THRESHOLD
    return np.where(stroke, (labels + 1)[:, None, None], 0).astype(np.uint8)


def build_split(digits: np.ndarray, labels: np.ndarray, backgrounds: list[np.ndarray],
                rng: np.random.Generator) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    patches = photos.random_patches(backgrounds, len(digits), digits.shape[-1], rng)
    maps = label_maps(digits, labels)
    return blend(digits, patches), {"digits": digits, "masks": (maps > 0).astype(np.uint8), "label_maps": maps}


@dataclass(frozen=True)
class MnistM:
    name: str = "mnist_m"
    arrays: tuple[str, ...] = ("images", "labels", *EXTRA_DOCS)

    def prepare(self, out_dir: Path, cache_dir: Path) -> None:
        digits = mnist.read_wheel(mnist.SOURCE.fetch(cache_dir))
        wheels = photos.fetch_sources(cache_dir)
        rng = np.random.default_rng(SEED)
        splits, extras = {}, {}
        for split in ("train", "test"):
            backgrounds = list(photos.read_photos(photos.PHOTO_SPLITS[split], wheels).values())
            images, extras[split] = build_split(*digits[split], backgrounds, rng)
            splits[split] = (images, digits[split][1])
        write_prepared(out_dir, name=self.name, source=(mnist.SOURCE, *photos.SOURCES),
                       class_names=mnist.MNIST.class_names, splits=splits, extras=extras, extra_docs=EXTRA_DOCS)


MNIST_M = DATASETS.register("mnist_m")(MnistM())
