"""Guidance by a loss function on an unconditional diffusion model ("universal guidance": Bansal et al. 2023,
https://arxiv.org/abs/2302.07121, forward guidance; the classifier form is Dhariwal & Nichol 2021, sec. 4).

At every step the noise estimate is moved along the gradient of a differentiable loss of the predicted clean
image x0_hat(x_t): eps' = eps + scale sqrt(1 - alpha-bar_t) grad_{x_t} loss(x0_hat(x_t)), which is classifier
guidance (eps - sqrt(1 - alpha-bar) grad log p(y | x_t)) when loss = -log p(y | x0_hat). The gradient flows
through the UNet (x0_hat depends on eps), so a guided step costs a forward and a backward pass. The classifier
is one trained on clean images (the domain classifier), which is why it sees x0_hat rather than x_t.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from genbench.config import SamplerConfig, bounded, limits
from genbench.device import resolve_device, set_threads
from genbench.experiments.base import EXPERIMENTS, Experiment, ExperimentJob, run_identity
from genbench.experiments.judging import SCORING_INPUTS, Scorers, ScoringFiles
from genbench.experiments.sdedit import UNCONDITIONAL_PIXEL_DIFFUSION, unconditional_pixel_diffusion
from genbench.images import save_grid, to_uint8
from genbench.io import write_json
from genbench.models.ddpm import DDPM
from genbench.models.layers import cpu_randn
from genbench.samplers import make_sampler
from genbench.samplers.base import predict_x0
from genbench.train.checkpoint import load_for_sampling

__all__ = ["LossGuidanceConfig", "class_loss", "guided_sample", "run_loss_guidance_job"]


@dataclass(frozen=True)
class LossGuidanceConfig:
    """Loss (classifier) guidance of the named unconditional diffusion models."""

    presets: tuple[str, ...] = bounded((), unique=True)
    n: int = bounded(20, ge=1)  # images guided towards each class
    scales: tuple[float, ...] = bounded((0.0, 1.0, 3.0, 10.0), min_items=1, each=limits(ge=0))  # 0 = unguided
    steps: int = bounded(25, ge=1)  # DDIM steps, eta 0

Loss = Callable[[torch.Tensor], torch.Tensor]  # images in [-1, 1] (N, C, H, W) -> per-image loss (N,)


def class_loss(classifier: nn.Module, target: int) -> Loss:
    """-log p(target | x) under ``classifier``: guiding with it asks for images of class ``target``."""
    return lambda images: -F.log_softmax(classifier(images), dim=1)[:, target]


def guided_sample(model: DDPM, loss: Loss, n: int, *, scale: float, sampler: SamplerConfig,
                  generator: torch.Generator) -> torch.Tensor:
    """``n`` images from the unconditional ``model`` with every step's eps pushed down ``loss``'s gradient."""
    if model.label_kind or not model.pixel_space:
        raise ValueError(f"loss guidance steers an unconditional pixel-space model; family '{model.family}' is not one")
    algo = make_sampler(sampler, model.schedule, source="loss guidance")
    abar = model.schedule.alphas_cumprod.detach().to("cpu", torch.float64)

    def eps(x: torch.Tensor, t: int) -> torch.Tensor:
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            noise = model.predict_noise(x, t)
            x0 = predict_x0(x, noise, float(abar[t])).clamp(-1.0, 1.0)
            (grad,) = torch.autograd.grad(loss(x0).sum(), x)
        return noise.detach() + scale * float(1.0 - abar[t]) ** 0.5 * grad

    start = cpu_randn(n, model.image.channels, model.image.height, model.image.width, generator=generator,
                      device=model.device)
    return model.denoise(start, algo, eps if scale else model.predict_noise, generator=generator)


def run_loss_guidance_job(job: ExperimentJob) -> dict:
    """Every class as the target of -log p(target | x0_hat) guidance by the guide at each scale, scored by guide and
    judge, with the realism of all targets' images (scale 0 = unguided: rates about 1 / classes)."""
    set_threads(job.threads)
    dev = resolve_device(job.device)
    checkpoint, settings, pr_k = job.inputs["checkpoint"], job.config, job.profile.evaluation.pr_k
    model, run_cfg = load_for_sampling(checkpoint, dev)
    scorers = Scorers.load(ScoringFiles.of(job.inputs), device=dev)
    guide = scorers.guide
    for parameter in (*model.parameters(), *guide.parameters()):
        parameter.requires_grad_(False)  # gradients w.r.t. x_t only
    sampler = SamplerConfig(algo="ddim", steps=settings.steps)
    rows, grid_rows = [], []
    for scale in settings.scales:
        images_by_target = []
        for target in range(guide.head.out_features):
            # Each target its own starting noise, the same at every scale: the targets' images together are then
            # distinct draws (one noise for all would repeat the unguided images, and FD would measure that).
            generator = torch.Generator().manual_seed(run_cfg.seed * 10_000 + target)
            images = guided_sample(model, class_loss(guide, target), settings.n, scale=scale, sampler=sampler,
                                   generator=generator)
            images_by_target.append(to_uint8(images.cpu()))
        rows.append({"scale": scale, **scorers.score(images_by_target, pr_k=pr_k)})
        if scale == max(settings.scales):
            grid_rows = [images[:10] for images in images_by_target]
    figure = job.out.with_suffix(".png")
    save_grid(np.concatenate(grid_rows), figure, nrow=min(10, settings.n))
    record = {**run_identity(checkpoint, run_cfg), "n": settings.n, "steps": settings.steps,
              "sampler": "ddim eta 0", "loss": "-log p(target | x0_hat) under the guide",
              "scoring": {**scorers.protocol, "pr_k": pr_k}, "rows": rows, "figure": figure.name}
    write_json(job.out, record)
    return record


EXPERIMENTS.add("loss_guidance", Experiment(
    config=LossGuidanceConfig, run=run_loss_guidance_job, inputs=("checkpoint", *SCORING_INPUTS),
    applies_to=unconditional_pixel_diffusion, requirement=UNCONDITIONAL_PIXEL_DIFFUSION,
    settings=("evaluation.pr_k",)))
