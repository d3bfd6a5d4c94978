"""The reference job: features of a fixed seeded subset of real images in one feature space, the real side of
every metric the evaluation computes there."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from genbench.data import load_split, seeded_subset
from genbench.device import resolve_device, set_threads
from genbench.features import EXTRACTORS
from genbench.io import InputError, save_npz, sha256_file

REFERENCE_SEED = 12345  # fixed: the real subset must not change with the model's seed


def run_reference(data_dir: Path, extractor_file: Path, *, space: str, split: str, n: int, batch_size: int,
                  device: str, threads: int, out: Path) -> None:
    """Features (and logits, where the extractor has them) of a fixed seeded subset of real images: the
    reference side of every metric in feature space ``space``."""
    set_threads(threads)
    images, labels = load_split(data_dir, split)
    if n > len(images):
        raise InputError(f"{data_dir}/{split}.npz: has {len(images)} images, evaluation.n_real asks for {n}")
    idx = seeded_subset(len(images), n, REFERENCE_SEED)
    dev = resolve_device(device)
    extractor = EXTRACTORS.get(space, source="reference")
    model, _ = extractor.load(extractor_file, device=dev)
    features, logits = extractor.extract(model, images[idx], batch_size=batch_size, device=dev)
    arrays = {"features": features, "labels": labels[idx], "indices": idx.astype(np.int64), "space": np.array(space),
              "extractor_sha256": np.array(sha256_file(extractor_file)), "split": np.array(split)}
    if logits is not None:
        arrays["logits"] = logits
    save_npz(out, arrays)
