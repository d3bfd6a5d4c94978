"""Photo patches for x4 super-resolution: 64x64 high-resolution crops of the package photos
(``genbench.data.photos``) and their 16x16 low-resolution versions, train and test from disjoint photos.

The low-resolution image is the bicubic (antialiased, PIL) x4 downscale of the crop, the SRGAN paper's
degradation (Ledig et al. 2017, https://arxiv.org/abs/1609.04802, sec. 3.1). It is stored (``lr``), so the
models, the bicubic baseline and the metrics all see the very same input. ``labels`` is the index of the
photo a patch comes from (``class_names`` are the photo names).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genbench.data import photos
from genbench.data.base import DATASETS, write_prepared

SEED = 20170525
HR_SIZE = 64
SCALE = 4
COUNTS = {"train": 4000, "test": 400}
PHOTO_NAMES = photos.TRAIN_PHOTOS + photos.TEST_PHOTOS
EXTRA_DOCS = {"lr": f"uint8 (N, 3, H/{SCALE}, W/{SCALE}): bicubic x{SCALE} downscale of the image (PIL)"}


def downscale(images: np.ndarray, scale: int = SCALE) -> np.ndarray:
    """uint8 (N, C, H, W) -> (N, C, H/scale, W/scale), PIL bicubic with antialiasing."""
    return photos.resize_bicubic(images, images.shape[2] // scale, images.shape[3] // scale)


@dataclass(frozen=True)
class PhotoPatches:
    name: str = "photo_patches"
    arrays: tuple[str, ...] = ("images", "labels", *EXTRA_DOCS)

    def prepare(self, out_dir: Path, cache_dir: Path) -> None:
        wheels = photos.fetch_sources(cache_dir)
        rng = np.random.default_rng(SEED)
        splits, extras = {}, {}
        for split, names in photos.PHOTO_SPLITS.items():
            picked = photos.read_photos(names, wheels)
            which = rng.integers(len(names), size=COUNTS[split])
            images = np.empty((COUNTS[split], 3, HR_SIZE, HR_SIZE), dtype=np.uint8)
            for k, name in enumerate(names):  # one photo at a time keeps the draw order independent of sizes
                rows = np.flatnonzero(which == k)
                images[rows] = photos.random_patches([picked[name]], len(rows), HR_SIZE, rng)
            labels = np.array([PHOTO_NAMES.index(names[k]) for k in which], dtype=np.int64)
            splits[split] = (images, labels)
            extras[split] = {"lr": downscale(images)}
        write_prepared(out_dir, name=self.name, source=photos.SOURCES, class_names=PHOTO_NAMES, splits=splits,
                       extras=extras, extra_docs=EXTRA_DOCS)


PHOTO_PATCHES = DATASETS.register("photo_patches")(PhotoPatches())
