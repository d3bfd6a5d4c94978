"""img2img by SDEdit: Meng et al. 2022, "SDEdit: Guided Image Synthesis and Editing with Stochastic
Differential Equations" (https://arxiv.org/abs/2108.01073), the mechanism of Stable Diffusion's img2img.

An input image is noised to strength s in (0, 1] (x_t ~ q(x_t | x_0) at t = s T, sec. 3) and denoised from
there with the model's sampler; s trades faithfulness to the input (small s) for realism under the model
(large s: at s = 1 the input is forgotten). The denoising takes a proportional share of the sampler's steps.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from genbench import metrics
from genbench.config import SamplerConfig, bounded, limits
from genbench.data import load_split, seeded_subset
from genbench.device import resolve_device, set_threads
from genbench.experiments.base import EXPERIMENTS, Experiment, ExperimentJob, run_identity
from genbench.features import domain
from genbench.images import save_grid, to_uint8
from genbench.io import load_npz, sha256_file, write_json
from genbench.models.ddpm import DDPM
from genbench.models.layers import cpu_randn
from genbench.samplers import make_sampler
from genbench.train.checkpoint import load_for_sampling

__all__ = ["SdeditConfig", "run_sdedit_job", "sdedit", "unconditional_pixel_diffusion"]

UNCONDITIONAL_PIXEL_DIFFUSION = "an unconditional pixel-space diffusion model (e.g. ddpm)"


@dataclass(frozen=True)
class SdeditConfig:
    """img2img by SDEdit with the named unconditional diffusion models."""

    presets: tuple[str, ...] = bounded((), unique=True)
    n: int = bounded(200, ge=2)  # seeded train images edited at each strength (FD against the test reference)
    strengths: tuple[float, ...] = bounded((0.2, 0.4, 0.6, 0.8, 1.0), min_items=1, each=limits(gt=0, le=1))
    steps: int = bounded(50, ge=1)  # DDIM steps (eta 0) at strength 1; a strength s takes s of them


def unconditional_pixel_diffusion(cls: type) -> bool:
    """Whether a family is what SDEdit and loss guidance here take: unconditional diffusion in pixel space."""
    return cls.kind == "diffusion" and not cls.label_kind and getattr(cls, "pixel_space", False)


def sdedit(model: DDPM, images: torch.Tensor, *, strength: float, sampler: SamplerConfig,
           generator: torch.Generator, labels: torch.Tensor | None = None) -> torch.Tensor:
    """Edit ``images`` (N, C, H, W) in [-1, 1] at ``strength``; ``sampler.steps`` is the cost at s = 1. A
    class-conditional model edits towards ``labels`` with the sampler's classifier-free ``guidance``."""
    if not 0.0 < strength <= 1.0:
        raise ValueError(f"sdedit: strength must be in (0, 1], got {strength}")
    if not model.pixel_space or (model.label_kind and (model.label_kind != "class" or labels is None)):
        missing = "needs labels" if model.pixel_space and model.label_kind == "class" else "is not one"
        raise ValueError(f"sdedit edits with a pixel-space model, unconditional or given class labels; family "
                         f"'{model.family}' {missing}")
    total = model.schedule.num_timesteps
    first = max(round(strength * total) - 1, 0)
    algo = make_sampler(sampler, model.schedule, source="sdedit")
    algo.set_timesteps(max(1, round(strength * (sampler.steps or total))), first=first)
    noise = cpu_randn(*images.shape, generator=generator, device=images.device)
    x_t = model.schedule.add_noise(images, noise, torch.full((len(images),), first, device=images.device))
    return model.denoise(x_t, algo, model.noise_estimator(sampler, labels), generator=generator)


def run_sdedit_job(job: ExperimentJob) -> dict:
    """Seeded train images edited at each strength: structure kept (SSIM, domain-feature distance and label
    kept, against the input) against realism (FD to the test reference in domain features)."""
    set_threads(job.threads)
    dev = resolve_device(job.device)
    checkpoint, settings, classifier_file = job.inputs["checkpoint"], job.config, job.inputs["classifier"]
    model, run_cfg = load_for_sampling(checkpoint, dev)
    classifier, _ = domain.load_classifier(classifier_file, device=dev)
    train_x, train_y = load_split(job.inputs["data"], "train")
    keep = seeded_subset(len(train_x), settings.n, run_cfg.seed)
    inputs, labels = train_x[keep], train_y[keep]
    real = load_npz(job.inputs["reference"], required=("features",))["features"]
    input_features, _ = domain.extract(classifier, inputs, batch_size=250, device=dev)
    sampler = SamplerConfig(algo="ddim", steps=settings.steps)
    x0 = torch.from_numpy(inputs).float().div(127.5).sub(1.0).to(dev)
    rows = [{"strength": 0.0, "ssim": 1.0, "feature_distance": 0.0, "label_kept": 1.0,
             "fd_domain": metrics.frechet_distance(real, input_features)}]  # the inputs themselves: real vs real
    grid_rows = [inputs[:10]]
    for strength in settings.strengths:
        with torch.no_grad():
            edited = to_uint8(sdedit(model, x0, strength=strength, sampler=sampler,
                                     generator=torch.Generator().manual_seed(run_cfg.seed)).cpu())
        features, logits = domain.extract(classifier, edited, batch_size=250, device=dev)
        rows.append({"strength": strength, "ssim": float(metrics.ssim(inputs, edited).mean()),
                     "feature_distance": float(np.linalg.norm(features - input_features, axis=1).mean()),
                     "label_kept": float((logits.argmax(axis=1) == labels).mean()),
                     "fd_domain": metrics.frechet_distance(real, features)})
        grid_rows.append(edited[:10])
    figure = job.out.with_suffix(".png")
    save_grid(np.concatenate(grid_rows), figure, nrow=min(10, settings.n))
    record = {**run_identity(checkpoint, run_cfg), "n": settings.n, "steps_at_strength_1": settings.steps,
              "sampler": "ddim eta 0", "inputs": "seeded train subset", "n_real": int(len(real)),
              "classifier_sha256": sha256_file(classifier_file), "rows": rows, "figure": figure.name}
    write_json(job.out, record)
    return record


EXPERIMENTS.add("sdedit", Experiment(
    config=SdeditConfig, run=run_sdedit_job, inputs=("checkpoint", "data", "classifier", "reference"),
    applies_to=unconditional_pixel_diffusion, requirement=UNCONDITIONAL_PIXEL_DIFFUSION, mem_mb=3000))
