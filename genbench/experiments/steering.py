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

from genbench.models import GenerativeModel

__all__ = ["SteeringResult", "steer", "steering_matrix"]


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
