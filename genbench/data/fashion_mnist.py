"""Fashion-MNIST (Xiao et al. 2017, arXiv:1708.07747; 60k + 10k 28x28 clothing images) from Debian
``dataset-fashion-mnist`` 0.0~git20200523.55506a9-1 (Expat).

The package holds the upstream gzipped IDX files. IDX (the original MNIST format): a big-endian magic
number whose low byte is the number of dimensions (2051 = uint8 images, 3 dims; 2049 = uint8 labels,
1 dim), one big-endian uint32 per dimension, then the data in row-major order.
"""
from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from genbench.data.base import DATASETS, PackageDataset, Source, Splits
from genbench.data.fetch import extract_deb_members
from genbench.io import InputError

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049
SIDE = 28
CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")

_DIR = "./usr/share/datasets/fashion-mnist"
MEMBERS = {  # split -> (images member, labels member)
    "train": (f"{_DIR}/train-images-idx3-ubyte.gz", f"{_DIR}/train-labels-idx1-ubyte.gz"),
    "test": (f"{_DIR}/t10k-images-idx3-ubyte.gz", f"{_DIR}/t10k-labels-idx1-ubyte.gz"),
}

SOURCE = Source(
    kind="debian",
    package="dataset-fashion-mnist",
    version="0.0~git20200523.55506a9-1",
    file="dataset-fashion-mnist_0.0~git20200523.55506a9-1_all.deb",
    sha256="39e172fe32dd318ebb3e512220c3beea2fa47d7e20bab348fb4e0922d6beefc0",
    license="Expat",
    members=tuple(m for pair in MEMBERS.values() for m in pair),
)


def read_deb(deb: Path) -> Splits:
    """``{split: (images, labels)}`` from the package's IDX members."""
    raw = extract_deb_members(deb, SOURCE.members)
    return {split: read_split(raw[images], raw[labels], images_member=images, labels_member=labels)
            for split, (images, labels) in MEMBERS.items()}


def read_split(images_gz: bytes, labels_gz: bytes, *, images_member: str,
               labels_member: str) -> tuple[np.ndarray, np.ndarray]:
    """Images uint8 (N, 1, 28, 28) and labels int64 (N,) from the two gzipped IDX files of one split."""
    images = parse_idx(gunzip(images_gz, member=images_member), magic=IMAGES_MAGIC, member=images_member)
    labels = parse_idx(gunzip(labels_gz, member=labels_member), magic=LABELS_MAGIC, member=labels_member)
    if images.shape[1:] != (SIDE, SIDE):
        raise InputError(f"{images_member}: images are {images.shape[1:]}, expected ({SIDE}, {SIDE})")
    if len(images) != len(labels):
        raise InputError(f"{labels_member}: {len(labels)} labels for {len(images)} images in {images_member}")
    if labels.size and labels.max() >= len(CLASS_NAMES):
        raise InputError(f"{labels_member}: label {labels.max()} outside 0..{len(CLASS_NAMES) - 1}")
    return images[:, None], labels.astype(np.int64)


def gunzip(data: bytes, *, member: str) -> bytes:
    try:
        return gzip.decompress(data)
    except (EOFError, OSError, zlib.error) as err:  # truncated stream, bad header, bad CRC
        raise InputError(f"{member}: corrupt or truncated gzip data ({err}); delete the package file "
                         f"and re-run") from None


def parse_idx(data: bytes, *, magic: int, member: str) -> np.ndarray:
    """A uint8 IDX file as an array of its declared shape; checks the magic number and the length."""
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    found = int.from_bytes(data[:4], "big")
    if found != magic:
        raise InputError(f"{member}: IDX magic number {found}, expected {magic}")
    if len(data) < header:
        raise InputError(f"{member}: {len(data)} bytes, too short for an IDX header of {ndim} dimensions")
    shape = tuple(int(d) for d in np.frombuffer(data, ">u4", count=ndim, offset=4))
    size = int(np.prod(shape))
    if len(data) != header + size:
        raise InputError(f"{member}: IDX header declares {shape} = {size} bytes of data, "
                         f"found {len(data) - header}")
    return np.frombuffer(data, np.uint8, offset=header).reshape(shape).copy()


FASHION_MNIST = DATASETS.register("fashion_mnist")(PackageDataset(
    name="fashion_mnist",
    source=SOURCE,
    class_names=CLASS_NAMES,
    counts={"train": 60000, "test": 10000},
    read=read_deb,
))
