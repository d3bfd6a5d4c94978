"""The memorisation job: a model's samples against its whole training split in the domain feature space.

Writes ``memorisation/<sampler>.png`` (the ``n_show`` samples nearest to the training set, each beside its
``k`` nearest training images, with the distances) and ``memorisation/<sampler>.json`` (the copy statistics
of ``genbench.metrics.memorisation`` and what was shown), the JSON last: it is the file Snakemake waits for.
The maths is in ``genbench.metrics.memorisation``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from genbench.config import MemorisationConfig
from genbench.data import load_split
from genbench.device import resolve_device, set_threads
from genbench.features.domain import extract, load_classifier
from genbench.images import figure_png
from genbench.inputs import check_images
from genbench.io import InputError, atomic_path, load_npz, sha256_file, write_json
from genbench.jobs.evaluate import images_to_measure, read_reference
from genbench.jobs.trained_run import model_identity, read_train_summary
from genbench.metrics.memorisation import copy_statistics, nearest_neighbours


def neighbour_figure(fakes: np.ndarray, neighbours: np.ndarray, distances: np.ndarray, title: str) -> bytes:
    """Rows: a sample, then its nearest training images left to right, each titled with its distance."""
    rows, k = neighbours.shape[:2]
    fig = Figure(figsize=(1.3 * (k + 1), 1.35 * rows + 0.5), layout="constrained")
    axes = fig.subplots(rows, k + 1, squeeze=False)
    grey = fakes.shape[1] == 1
    for r in range(rows):
        cells = [(fakes[r], "sample" if r == 0 else "")] + [
            (neighbours[r, j], f"d={distances[r, j]:.2f}") for j in range(k)]
        for ax, (image, label) in zip(axes[r], cells):
            ax.imshow(image[0] if grey else image.transpose(1, 2, 0), cmap="gray" if grey else None,
                      vmin=0, vmax=255, interpolation="nearest")
            ax.set_title(label, fontsize=8)
            ax.set_xticks([]), ax.set_yticks([])
    fig.suptitle(title, fontsize=9)
    return figure_png(fig)


def run_memorisation(samples: Path, train_reference: Path, test_reference: Path, classifier: Path,
                     data_dir: Path, cfg: MemorisationConfig, *, n_fake: int, batch_size: int, device: str,
                     threads: int, train_summary: Path, sampler_name: str, out: Path) -> dict:
    """Copy statistics of the first ``n_fake`` samples of sampler setting ``sampler_name`` of the model its train
    job's summary names; ``out`` is the JSON, the figure goes beside it."""
    set_threads(threads)
    identity = model_identity(read_train_summary(train_summary)) | {"sampler": sampler_name}
    sample_arrays = load_npz(samples, required=("images",))
    check_images(sample_arrays["images"], samples)
    fake = images_to_measure(sample_arrays, n_fake, samples)
    extractor_sha = sha256_file(classifier)
    train_ref = read_reference(train_reference, "train", extractor_sha)
    test_ref = read_reference(test_reference, "test", extractor_sha)
    dev = resolve_device(device)
    model, _ = load_classifier(classifier, device=dev)
    if fake.shape[1] != model.in_channels:
        raise InputError(f"{samples}: {fake.shape[1]}-channel images, but {classifier} takes {model.in_channels}: "
                         "these samples are of another dataset; re-run their sample rule")
    fake_features, _ = extract(model, fake, batch_size=batch_size, device=dev)
    neighbour_idx, neighbour_d = nearest_neighbours(fake_features, train_ref["features"], cfg.k)
    _, test_d = nearest_neighbours(test_ref["features"], train_ref["features"], 1)
    stats = copy_statistics(neighbour_d[:, 0], test_d[:, 0], quantile=cfg.near_copy_quantile)

    shown = np.argsort(neighbour_d[:, 0], kind="stable")[:cfg.n_show]  # the most suspicious samples
    train_images, _ = load_split(data_dir, "train")
    train_rows = train_ref["indices"][neighbour_idx[shown]]  # feature rows -> rows of the train split
    title = (f"{identity['dataset']} / {identity['preset']} / {identity['sampler']}\nsamples nearest to the "
             f"training set; distance ratio {stats['distance_ratio']:.2f}")
    png = neighbour_figure(fake[shown], train_images[train_rows], neighbour_d[shown], title)
    with atomic_path(out.with_suffix(".png")) as tmp:
        tmp.write_bytes(png)
    record = {**identity, **stats, "k": cfg.k,
              "shown": [{"sample": int(i), "train_rows": [int(t) for t in rows], "distances": [float(d) for d in ds]}
                        for i, rows, ds in zip(shown, train_rows, neighbour_d[shown])],
              "protocol": {"feature_space": "domain", "extractor_sha256": extractor_sha, "n_fake": int(len(fake)),
                           "n_train": int(len(train_ref["features"])), "n_test": int(len(test_ref["features"])),
                           "samples_sha256": sha256_file(samples), "distance": "euclidean"}}
    write_json(out, record)
    return record
