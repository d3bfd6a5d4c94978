"""img2img by SDEdit: Meng et al. 2022, "SDEdit: Guided Image Synthesis and Editing with Stochastic
Differential Equations" (https://arxiv.org/abs/2108.01073), the mechanism of Stable Diffusion's img2img.

An input image is noised to strength s in (0, 1] (x_t ~ q(x_t | x_0) at t = s T, sec. 3) and denoised from
there with the model's sampler; s trades faithfulness to the input (small s) for realism under the model
(large s: at s = 1 the input is forgotten). The denoising takes a proportional share of the sampler's steps.
"""
from __future__ import annotations

import torch

from genbench.config import SamplerConfig
from genbench.models.ddpm import DDPM
from genbench.models.layers import cpu_randn
from genbench.samplers import make_sampler

__all__ = ["sdedit"]


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
