"""The FreeControl job: training-free image-to-image (MNIST-M -> MNIST) with a class-conditional diffusion model
of the target domain, beside SDEdit and an image-to-image baseline (CycleGAN's F) on the same test rows.

Every method is measured here by the same code: label kept (the target domain's classifier on the output vs
the input's digit), FD in the target's domain features against its test reference, structure kept (SSIM
against the MNIST digit the input was made from, and stroke IoU against its mask: MNIST-M stores both), and
seconds per image. Rows: the baseline (its stored outputs), SDEdit at the strength matched to FreeControl's
guided steps, DDIM inversion alone (FreeControl with both energies off: what the inverted start does by
itself), FreeControl with the target class as its prompt, and FreeControl with the generic (null) prompt, which
is the only row besides the baseline that is not told the class.
"""
from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from genbench import metrics
from genbench.config import FreeControlConfig, SamplerConfig
from genbench.data import load_arrays
from genbench.data.mnist_m import STROKE_THRESHOLD
from genbench.device import resolve_device, set_threads
from genbench.experiments import freecontrol
from genbench.experiments.sdedit import sdedit
from genbench.features import domain
from genbench.features.domain import load_classifier
from genbench.images import save_grid
from genbench.io import InputError, load_npz, read_json, sha256_file, write_json
from genbench.train.checkpoint import load_for_sampling
from genbench.images import to_uint8

__all__ = ["run_freecontrol_job"]

GRID_ROWS = 10


def run_freecontrol_job(checkpoint: Path, classifier_file: Path, reference: Path, source_dir: Path,
                        baseline_samples: Path, cfg: FreeControlConfig, *, device: str, threads: int,
                        out: Path) -> dict:
    set_threads(threads)
    dev = resolve_device(device)
    model, run_cfg = load_for_sampling(checkpoint, dev)
    if model.label_kind != "class" or not model.pixel_space or model.kind != "diffusion":
        raise InputError(f"{checkpoint}: FreeControl here needs a class-conditional pixel-space diffusion model "
                         f"(ddpm_cond), this is a {model.family}; fix experiments.freecontrol.presets")
    for parameter in model.parameters():
        parameter.requires_grad_(False)  # gradients w.r.t. x_t only
    classifier, _ = load_classifier(classifier_file, device=dev)
    baseline = load_npz(baseline_samples, required=("images", "index"))
    index = baseline["index"][:cfg.n]
    if len(index) < cfg.n:
        raise InputError(f"{baseline_samples}: holds {len(index)} translated test rows, experiments.freecontrol.n "
                         f"asks for {cfg.n}; lower it or raise the baseline's n")
    test = load_arrays(source_dir, "test", ("images", "labels", "digits", "masks"))
    rgb, labels, digits, masks = (test[name][index] for name in ("images", "labels", "digits", "masks"))
    if digits.shape[1:] != (model.image.channels, model.image.height, model.image.width):
        raise InputError(f"{source_dir}/test.npz: digits of shape {digits.shape[1:]} do not fit {checkpoint}'s "
                         f"{model.image.channels}x{model.image.height}x{model.image.width} images")
    guide = freecontrol.condition_image(rgb)
    x = torch.from_numpy(guide).float().div(127.5).sub(1.0).to(dev)
    y = torch.from_numpy(labels).long().to(dev)

    start = time.perf_counter()
    bases = freecontrol.analyse(model, cfg, generator=torch.Generator().manual_seed(run_cfg.seed))
    analysis_seconds = time.perf_counter() - start
    settings = {"inversion_only": replace(cfg, structure_scale=0.0, appearance_scale=0.0), "freecontrol": cfg,
                "freecontrol_null_prompt": replace(cfg, guidance=0.0)}
    outputs: dict[str, np.ndarray] = {"baseline": baseline["images"][:cfg.n]}
    seconds = {"baseline": 1.0 / read_json(baseline_samples.with_suffix(".json"))["images_per_second"]}
    strength = 1.0 - cfg.guided_fraction
    start = time.perf_counter()
    outputs["sdedit"] = _batched(lambda rows, k: sdedit(
        model, x[rows], strength=strength, labels=y[rows], generator=torch.Generator().manual_seed(run_cfg.seed + k),
        sampler=SamplerConfig(algo="ddim", steps=cfg.steps, guidance=cfg.guidance)), len(y), cfg.batch_size)
    seconds["sdedit"] = (time.perf_counter() - start) / len(y)
    for name, method in settings.items():
        start = time.perf_counter()
        outputs[name] = to_uint8(freecontrol.translate(model, x, y, bases, method, seed=run_cfg.seed).cpu())
        seconds[name] = (time.perf_counter() - start) / len(y)

    real = load_npz(reference, required=("features",))["features"]
    rows = []
    for name, images in outputs.items():
        features, logits = domain.extract(classifier, images, batch_size=250, device=dev)
        rows.append({"method": name, "label_kept": float((logits.argmax(axis=1) == labels).mean()),
                     "fd_domain": metrics.frechet_distance(real, features),
                     "ssim_to_digit": float(metrics.ssim(images, digits).mean()),
                     "stroke_iou": float(metrics.stroke_iou(images, masks, threshold=STROKE_THRESHOLD).mean()),
                     "seconds_per_image": seconds[name], "told_the_class": name in ("sdedit", "freecontrol",
                                                                                     "inversion_only")})
    shown = [outputs[name][:GRID_ROWS] for name in ("baseline", "sdedit", "freecontrol")]
    save_grid(np.stack([rgb[:GRID_ROWS], *(np.repeat(s, 3, axis=1) for s in shown)], axis=1).reshape(
        -1, 3, *digits.shape[2:]), out.with_suffix(".png"), nrow=4)
    record = {"dataset": run_cfg.dataset, "preset": run_cfg.preset, "family": run_cfg.spec.family,
              "seed": run_cfg.seed, "checkpoint": str(checkpoint), "source_dataset": cfg.source_dataset,
              "baseline": {"preset": cfg.baseline, "direction": cfg.baseline_direction,
                           "samples": str(baseline_samples)},
              "n": int(len(index)), "rows_translated": "test rows of the baseline's translation (its index)",
              "settings": {**{k: v for k, v in vars(cfg).items() if k != "presets"}, "sdedit_strength": strength},
              "guidance_image": "luma distance from its median, stretched (freecontrol.condition_image)",
              "analysis_seconds": analysis_seconds, "n_real": int(len(real)),
              "classifier_sha256": sha256_file(classifier_file), "rows": rows, "figure": out.with_suffix(".png").name,
              "grid": "rows of input | baseline | SDEdit | FreeControl"}
    write_json(out, record)
    return record


def _batched(edit, n: int, batch_size: int) -> np.ndarray:
    """uint8 outputs of ``edit(rows, k)`` over consecutive batches (k: the batch's number, for its seed)."""
    with torch.no_grad():
        return np.concatenate([to_uint8(edit(slice(first, first + batch_size), k).cpu())
                               for k, first in enumerate(range(0, n, batch_size))])
