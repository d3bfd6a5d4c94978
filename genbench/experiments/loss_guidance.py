"""Guidance by a loss function on an unconditional diffusion model ("universal guidance": Bansal et al. 2023,
https://arxiv.org/abs/2302.07121, forward guidance; the classifier form is Dhariwal & Nichol 2021, sec. 4).

At every step the noise estimate is moved along the gradient of a differentiable loss of the predicted clean
image x0_hat(x_t): eps' = eps + scale sqrt(1 - alpha-bar_t) grad_{x_t} loss(x0_hat(x_t)), which is classifier
guidance (eps - sqrt(1 - alpha-bar) grad log p(y | x_t)) when loss = -log p(y | x0_hat). The gradient flows
through the UNet (x0_hat depends on eps), so a guided step costs a forward and a backward pass. The classifier
is one trained on clean images (the domain classifier), which is why it sees x0_hat rather than x_t.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F

from genbench.config import SamplerConfig
from genbench.models.ddpm import DDPM
from genbench.models.layers import cpu_randn
from genbench.samplers import make_sampler
from genbench.samplers.base import predict_x0

__all__ = ["class_loss", "guided_sample"]

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
