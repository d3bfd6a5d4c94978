"""The sample job of an image-to-image family: translate the first ``n`` test inputs of its dataset.

The output has the layout of ``genbench.jobs.sample``'s (``images`` uint8 N x C x H x W, so every metric of
``genbench.jobs.evaluate`` applies in the target domain) plus what the task metrics need to line the outputs up
with the real test rows: ``index`` (test rows translated), ``task`` and ``direction``; where the dataset's
labels are classes the source keeps (digits), ``labels`` with ``label_kind`` "class", so the domain
classifier's class accuracy on the outputs is the label preservation of the CycleGAN paper.

Unpaired translators also translate the first ``diversity_inputs`` rows ``diversity_styles`` times each
(``diversity_images``, inputs x styles x C x H x W), from the same seeded generator that drew the outputs: the
evaluation's LPIPS diversity (MUNIT Table 1) is their mean distance, exactly 0 for a deterministic family.
Their first rows are shown as ``<sampler>_styles.png`` (one input per row, then its outputs), named in the record.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from genbench.config import SamplerConfig
from genbench.data import load_arrays
from genbench.images import save_grid, to_uint8
from genbench.io import InputError, save_npz, write_json
from genbench.models.translation import Translator
from genbench.train.loop import TrainingDiverged

GRID_ROWS = 8  # input | output | target triplets shown in the grid
STYLE_GRID = (4, 8)  # inputs, outputs per input of the styles grid


def run_translation(model: Translator, run_cfg, *, checkpoint: Path, data_dir: Path, sampler_name: str,
                    sampler: SamplerConfig, n: int, batch_size: int, out: Path, seed: int = 0,
                    diversity: tuple[int, int] = (0, 0)) -> dict:
    """Translate test rows ``0 .. n-1`` (the sampler's own ``n`` where it sets one) with ``sampler.algo``, drawing
    any randomness from one CPU generator seeded with ``seed``; ``diversity`` = (inputs, styles per input) of an
    unpaired family's diversity outputs ((0, 0): none)."""
    direction = model.direction_of(sampler.algo)
    names = (*model.inference_arrays, model.target_arrays[direction], "labels")
    arrays = load_arrays(data_dir, "test", tuple(dict.fromkeys(names)))
    n = sampler.n or n
    if n > len(arrays["labels"]):
        raise InputError(f"{data_dir}/test.npz: has {len(arrays['labels'])} rows, sampler '{sampler_name}' of "
                         f"{checkpoint} asks for {n}; lower its n (or evaluation.n_fake)")
    sources = model.translation_inputs({k: v[:n] for k, v in arrays.items()}, direction)
    generator = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    images = translate_rows(model, sources, sampler.algo, generator=generator, batch_size=batch_size,
                            source=f"{checkpoint}: '{sampler_name}'")
    seconds = time.perf_counter() - start
    save_grid(_triplets(sources[:GRID_ROWS], images[:GRID_ROWS], model.translation_targets(arrays, direction)),
              out.with_suffix(".png"), nrow=3)
    record = {"sampler": sampler_name, "algo": sampler.algo, "task": model.task, "n": n, "batch_size": batch_size,
              "target_dataset": model.target_datasets.get(direction, run_cfg.dataset),
              "steps": model.network_evaluations(sampler), "seconds": round(seconds, 3),
              "images_per_second": round(n / seconds, 3), "checkpoint": str(checkpoint), "data": str(data_dir),
              "grid": "rows of input | output | target", "seed": seed}
    result = {"images": images, "index": np.arange(n, dtype=np.int64), "task": np.array(model.task),
              "direction": np.array(direction), "sampler_n": np.array(n)}
    inputs, styles = diversity
    if model.task == "unpaired" and inputs and styles:
        rows = sources[:min(inputs, n)]
        result["diversity_images"] = np.stack(
            [translate_rows(model, rows, sampler.algo, generator=generator, batch_size=batch_size,
                            source=f"{checkpoint}: '{sampler_name}'") for _ in range(styles)], axis=1)
        save_grid(_style_rows(rows[:STYLE_GRID[0]], result["diversity_images"][:STYLE_GRID[0], :STYLE_GRID[1]]),
                  out.with_name(f"{out.stem}_styles.png"), nrow=1 + min(styles, STYLE_GRID[1]))
        record |= {"diversity_inputs": len(rows), "diversity_styles": styles, "styles_grid": f"{out.stem}_styles.png"}
    write_json(out.with_suffix(".json"), record)
    if model.keeps_labels:
        result.update(labels=arrays["labels"][:n].astype(np.int64), label_kind=np.array("class"))
    save_npz(out, result)  # last: the file Snakemake waits for
    return record


def translate_rows(model: Translator, sources: torch.Tensor, algo: str, *, generator: torch.Generator,
                   batch_size: int, source: str) -> np.ndarray:
    """uint8 translations of ``sources`` with sampler algo ``algo``, batch by batch; NaN/inf stops it."""
    chunks = []
    with torch.no_grad():
        for first in range(0, len(sources), batch_size):
            x = model.translate(sources[first:first + batch_size].to(model.device), direction=algo,
                                generator=generator)
            if not torch.isfinite(x).all():
                raise TrainingDiverged(f"{source} produced NaN/inf images; retrain it")
            chunks.append(to_uint8(x))
    return np.concatenate(chunks)


def _style_rows(sources: torch.Tensor, outputs: np.ndarray) -> np.ndarray:
    """Rows of (input, its outputs under each style) uint8 images in 3 channels: ``outputs`` is (N, K, C, H, W)."""
    size = outputs.shape[-2:]
    views = [_as_rgb(to_uint8(_viewable(sources)), size)[:, None],
             _as_rgb(outputs.reshape(-1, *outputs.shape[2:]), size).reshape(*outputs.shape[:2], 3, *size)]
    return np.concatenate(views, axis=1).reshape(-1, 3, *size)


def _triplets(sources: torch.Tensor, outputs: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Rows of (input, output, target) uint8 images, each shown in 3 channels at the output's size."""
    size = outputs.shape[-2:]
    views = [_as_rgb(to_uint8(_viewable(sources)), size), _as_rgb(outputs, size),
             _as_rgb(targets[:len(outputs)], size)]
    return np.stack(views, axis=1).reshape(-1, 3, *size)


def _viewable(sources: torch.Tensor) -> torch.Tensor:
    """A one-hot label map (many channels) shown as its class index spread over [-1, 1]; images as they are."""
    if sources.shape[1] in (1, 3):
        return sources
    classes = sources.argmax(dim=1, keepdim=True).float()
    return classes / max(sources.shape[1] - 1, 1) * 2 - 1


def _as_rgb(images: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    t = torch.from_numpy(images).float()
    if t.shape[1] == 1:
        t = t.repeat(1, 3, 1, 1)
    if tuple(t.shape[-2:]) != tuple(size):
        t = torch.nn.functional.interpolate(t, size=size, mode="nearest")
    return t.round().clamp(0, 255).to(torch.uint8).numpy()
