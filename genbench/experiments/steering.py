"""Controllable generation with a classifier's gradient, and the feature correlation it reveals.

The method of the GAN courses (DeepLearning.AI "Build Basic GANs", week 4, after Shen et al. 2020's
latent-space editing): keep the generator fixed and move each latent z a few gradient-ascent steps along
d logit_t(G(z)) / dz of a classifier's target class t. What moves besides the target is the point: when
pushing towards "7" also raises "1" or "9", those classes are entangled in the latent space (the course's
"feature correlation"). genbench's classifier is the per-dataset domain classifier of the metrics.

Each target class steers its own n seeded latents, so that all targets' images together are n x classes distinct
draws, whose realism the job compares with the same latents unsteered; the record holds each target's mean class
probabilities before and after and their change, a (targets x classes) matrix the report draws as a heatmap.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from genbench.config import bounded
from genbench.device import resolve_device, set_threads
from genbench.experiments.base import EXPERIMENTS, Experiment, ExperimentJob, run_identity
from genbench.experiments.judging import SCORING_INPUTS, Scorers, ScoringFiles
from genbench.images import save_grid, to_uint8
from genbench.io import write_json
from genbench.models import GenerativeModel
from genbench.train.checkpoint import load_for_sampling

__all__ = ["SteeringConfig", "SteeringResult", "run_steering_job", "steer", "steering_matrix"]


@dataclass(frozen=True)
class SteeringConfig:
    """Classifier-gradient steering of the named unconditional generators."""

    presets: tuple[str, ...] = bounded((), unique=True)
    n: int = bounded(64, ge=1)  # latents steered towards each class
    steps: int = bounded(10, ge=0)
    step_size: float = bounded(0.05, ge=0)  # per step, as a fraction of the latent's typical norm sqrt(D)


@dataclass(frozen=True)
class SteeringResult:
    target: int
    before: np.ndarray  # (C,) mean class probabilities of the unsteered images
    after: np.ndarray  # (C,) after the gradient steps
    images: np.ndarray  # (N, C, H, W) float in [-1, 1] after steering (for the figure)
    start_images: np.ndarray  # (N, C, H, W) float in [-1, 1]: the same latents before steering


def _probabilities(classifier: nn.Module, images: torch.Tensor) -> torch.Tensor:
    return torch.softmax(classifier(images), dim=1)


def steer(model: GenerativeModel, classifier: nn.Module, z: torch.Tensor, *, target: int, steps: int,
          step_size: float) -> SteeringResult:
    """``steps`` ascent steps z <- z + step_size sqrt(D) g / ||g|| with g = d logit_target(G(z)) / dz.

    The classifier's logit, not its log-probability, is ascended: the course's choice, and it leaves the
    other classes free to move, which is what the correlation figure measures. Each step has a fixed
    length per latent (``step_size`` times sqrt(D), the typical norm of a D-dimensional standard normal),
    so the setting means the same for any generator, however steep its gradients. Model and classifier
    are used in eval mode; only z receives gradients.
    """
    with torch.no_grad():
        start = model.generate(z)
        before = _probabilities(classifier, start).mean(dim=0)
    for _ in range(steps):
        z = z.detach().requires_grad_(True)
        score = classifier(model.generate(z))[:, target].sum()
        (grad,) = torch.autograd.grad(score, z)
        norm = grad.flatten(1).norm(dim=1).clamp_min(1e-12).reshape(-1, *[1] * (z.dim() - 1))
        z = z + step_size * math.sqrt(z[0].numel()) * grad / norm
    with torch.no_grad():
        images = model.generate(z.detach())
        after = _probabilities(classifier, images).mean(dim=0)
    return SteeringResult(target=target, before=before.cpu().numpy(), after=after.cpu().numpy(),
                          images=images.cpu().numpy(), start_images=start.cpu().numpy())


def steering_matrix(model: GenerativeModel, classifier: nn.Module, *, n: int, steps: int, step_size: float,
                    seed: int) -> list[SteeringResult]:
    """``steer`` ``n`` seeded latents towards each class of the classifier in turn, other latents per class."""
    if model.label_kind:
        raise ValueError(f"steering needs an unconditional generator; family '{model.family}' is conditional")
    model.eval()
    classifier.eval()
    for parameter in (*model.parameters(), *classifier.parameters()):
        parameter.requires_grad_(False)  # gradients w.r.t. z only: no parameter .grad buffers
    num_classes = classifier.head.out_features
    z = model.draw_latents(n * num_classes, generator=torch.Generator().manual_seed(seed)).split(n)
    return [steer(model, classifier, z[t], target=t, steps=steps, step_size=step_size) for t in range(num_classes)]


def run_steering_job(job: ExperimentJob) -> dict:
    """Every class as the target of latent steering by the guide (n latents each); scored by guide and judge, with
    realism, before and after the steps."""
    set_threads(job.threads)
    dev = resolve_device(job.device)
    checkpoint, settings, pr_k = job.inputs["checkpoint"], job.config, job.profile.evaluation.pr_k
    model, run_cfg = load_for_sampling(checkpoint, dev)
    scorers = Scorers.load(ScoringFiles.of(job.inputs), device=dev)
    results = steering_matrix(model, scorers.guide, n=settings.n, steps=settings.steps,
                              step_size=settings.step_size, seed=run_cfg.seed)
    steered = [to_uint8(torch.from_numpy(r.images)) for r in results]
    unsteered = [to_uint8(torch.from_numpy(r.start_images)) for r in results]  # the same latents, 0 steps
    rows = [{"steps": 0, **scorers.score(unsteered, pr_k=pr_k)},
            {"steps": settings.steps, **scorers.score(steered, pr_k=pr_k)}]
    # One row per target: the first 10 steered images, so a row shows where the push went.
    figure = job.out.with_suffix(".png")
    save_grid(np.concatenate([images[:10] for images in steered]), figure, nrow=min(10, settings.n))
    record = {**run_identity(checkpoint, run_cfg), "n": settings.n, "steps": settings.steps,
              "step_size": settings.step_size, "guided_by": "guide", "scoring": {**scorers.protocol, "pr_k": pr_k},
              "targets": [r.target for r in results], "rows": rows,
              "p_target_before": [float(r.before[r.target]) for r in results],
              "p_target_after": [float(r.after[r.target]) for r in results],
              "delta": [(r.after - r.before).tolist() for r in results], "figure": figure.name}
    write_json(job.out, record)
    return record


EXPERIMENTS.add("steering", Experiment(
    config=SteeringConfig, run=run_steering_job, inputs=("checkpoint", *SCORING_INPUTS),
    applies_to=lambda cls: cls.has_latents() and not cls.label_kind,
    requirement="an unconditional generator with a latent space", settings=("evaluation.pr_k",)))
