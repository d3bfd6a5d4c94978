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
from typing import Mapping

import numpy as np
import torch

from genbench import metrics
from genbench.config import PresetConfig, ProfileConfig, SamplerConfig
from genbench.data import DATASETS, load_arrays
from genbench.data.mnist_m import STROKE_THRESHOLD
from genbench.device import resolve_device, set_threads
from genbench.errors import ConfigError
from genbench.experiments import freecontrol
from genbench.experiments.base import EXPERIMENTS, Experiment, ExperimentJob, run_identity
from genbench.experiments.freecontrol import FreeControlConfig
from genbench.experiments.sdedit import sdedit
from genbench.features import domain
from genbench.features.domain import load_classifier
from genbench.images import save_grid, to_uint8
from genbench.io import InputError, load_npz, read_json, sha256_file, write_json
from genbench.models import family_class
from genbench.train.checkpoint import load_for_sampling

__all__ = ["run_freecontrol_job"]

GRID_ROWS = 10


def run_freecontrol_job(job: ExperimentJob) -> dict:
    cfg, out, checkpoint, classifier_file = job.config, job.out, job.inputs["checkpoint"], job.inputs["classifier"]
    source_dir, baseline_samples = job.inputs["source_data"], job.inputs["baseline_samples"]
    set_threads(job.threads)
    dev = resolve_device(job.device)
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

    real = load_npz(job.inputs["reference"], required=("features",))["features"]
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
    record = {**run_identity(checkpoint, run_cfg), "source_dataset": cfg.source_dataset,
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


def _baseline_and_source(cfg: FreeControlConfig, results: str, seed: int) -> dict[str, list[str]]:
    """The source domain's prepared test split, and the baseline translator's outputs on it (and their record:
    its speed), which the job is measured beside."""
    baseline = f"{results}/{cfg.source_dataset}/{cfg.baseline}/seed{seed}/samples/{cfg.baseline_direction}"
    return {"source_data": [f"data/{cfg.source_dataset}/test.npz"],
            "baseline_samples": [f"{baseline}.npz", f"{baseline}.json"]}


def _check_baseline(cfg: FreeControlConfig, profile: ProfileConfig, presets: Mapping[str, PresetConfig],
                    source: str) -> None:
    """The baseline is a translator of the profile trained on ``source_dataset``, which stores digit masks."""
    if not cfg.presets:
        return
    baseline = presets.get(cfg.baseline)
    if baseline is None or cfg.source_dataset not in profile.datasets_of(cfg.baseline):
        raise ConfigError(f"{source}: key 'experiments.freecontrol.baseline': '{cfg.baseline}' must be a "
                          f"preset of this profile trained on '{cfg.source_dataset}' (preset_datasets)")
    if family_class(baseline.family).kind != "translation" or cfg.baseline_direction not in baseline.samplers:
        raise ConfigError(f"{source}: key 'experiments.freecontrol.baseline_direction': "
                          f"'{cfg.baseline_direction}' is not a sampler of translator '{cfg.baseline}'")
    if "masks" not in DATASETS.get(cfg.source_dataset).arrays:
        raise ConfigError(f"{source}: key 'experiments.freecontrol.source_dataset': '{cfg.source_dataset}' "
                          "stores no digit masks (the structure score needs them); use mnist_m")


EXPERIMENTS.add("freecontrol", Experiment(
    config=FreeControlConfig, run=run_freecontrol_job,
    inputs=("checkpoint", "classifier", "reference", "source_data", "baseline_samples"),
    applies_to=lambda cls: (cls.kind == "diffusion" and getattr(cls, "pixel_space", False)
                            and cls.label_kind == "class"),
    requirement="a class-conditional pixel-space diffusion preset (e.g. ddpm_cond)",
    more_inputs=_baseline_and_source, check=_check_baseline, mem_mb=3000,
    more_help={"source_data": "the source domain's prepared dataset folder (test.npz with digits and masks)",
               "baseline_samples": "the image-to-image baseline's outputs .npz, its .json beside it"}))
