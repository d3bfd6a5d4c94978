"""Inputs of the standalone metrics command: an image folder, an ``.npz`` of images, or an ``.npz`` of features.

Every problem is an ``InputError`` whose one-line message names the path and the fix.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genbench.io import InputError, load_npz

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


@dataclass(frozen=True)
class MetricInput:
    """Exactly one of ``images`` (uint8 N x C x H x W) or ``features`` (float N x D); ``logits`` optional."""

    source: str
    images: np.ndarray | None = None
    features: np.ndarray | None = None
    logits: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.images if self.images is not None else self.features)


def load_metric_input(path: str | Path) -> MetricInput:
    path = Path(path)
    if path.is_dir():
        return MetricInput(source=str(path), images=read_image_folder(path))
    if path.suffix == ".npz":
        return _read_npz(path)
    if not path.exists():
        raise InputError(f"{path}: not found; give an image folder or an .npz file")
    raise InputError(f"{path}: expected an image folder or an .npz file (with 'images' or 'features')")


def read_image_folder(folder: Path) -> np.ndarray:
    """All images of ``folder`` (sorted by name) as uint8 (N, C, H, W); C = 1 for grayscale, else 3."""
    from PIL import Image

    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise InputError(f"{folder}: no images ({', '.join(IMAGE_SUFFIXES)}) in this folder")
    arrays = []
    for file in files:
        try:
            with Image.open(file) as img:
                gray = img.mode in ("1", "L", "I;16", "I", "F")
                arrays.append(np.asarray(img.convert("L" if gray else "RGB")))
        except OSError as err:
            raise InputError(f"{file}: unreadable image ({err})") from None
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        raise InputError(f"{folder}: images differ in size or colour ({sorted(shapes)[:3]}); resize them to one shape")
    stack = np.stack(arrays)
    return stack[:, None] if stack.ndim == 3 else stack.transpose(0, 3, 1, 2).copy()


def check_images(images: np.ndarray, source: Path | str) -> None:
    """Images as genbench writes them: uint8 N x C x H x W, C = 1 or 3 (a float array with NaN says so)."""
    if images.dtype == np.uint8 and images.ndim == 4 and images.shape[1] in (1, 3) and len(images):
        return
    if np.issubdtype(images.dtype, np.floating) and not np.isfinite(images).all():
        detail = f"{images.dtype} with NaN or inf values (a diverged model?)"
    else:
        detail = f"{images.dtype} {images.shape}"
    raise InputError(f"{source}: 'images' must be a non-empty uint8 N x C x H x W array with C = 1 or 3, got "
                     f"{detail}; re-create the file (genbench sample writes this format)")


def _read_npz(path: Path) -> MetricInput:
    arrays = load_npz(path)
    if ("images" in arrays) == ("features" in arrays):
        raise InputError(f"{path}: needs exactly one of the arrays 'images' (N x C x H x W uint8) or 'features' "
                         f"(N x D float); has {', '.join(sorted(arrays)) or 'none'}")
    logits = arrays.get("logits")
    if "images" in arrays:
        check_images(arrays["images"], path)
        return MetricInput(source=str(path), images=arrays["images"], logits=logits)
    features = arrays["features"]
    if features.ndim != 2 or not np.issubdtype(features.dtype, np.floating):
        raise InputError(f"{path}: 'features' must be a float N x D array, got {features.dtype} {features.shape}")
    if not np.isfinite(features).all():
        raise InputError(f"{path}: 'features' contains NaN or inf")
    return MetricInput(source=str(path), features=features, logits=logits)
