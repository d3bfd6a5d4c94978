"""Forward-process noise schedules: beta_t and its products, and q(x_t | x_0) (Ho et al. 2020, eq. 4)."""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from genbench.registry import Registry

BETA_SCHEDULES: Registry[Callable[[int], torch.Tensor]] = Registry("noise schedule")


@BETA_SCHEDULES.register("linear")
def linear_betas(timesteps: int) -> torch.Tensor:
    """Ho et al. 2020 (sec. 4): beta from 1e-4 to 0.02 over T = 1000 steps, float64.

    For other T both ends are scaled by 1000 / T, as in Nichol & Dhariwal 2021's improved-diffusion,
    so that alpha-bar_T stays near 0 (pure noise) however few training steps are used.
    """
    scale = 1000 / timesteps
    return torch.linspace(scale * 1e-4, scale * 0.02, timesteps, dtype=torch.float64)


@BETA_SCHEDULES.register("cosine")
def cosine_betas(timesteps: int, *, s: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    """Nichol & Dhariwal 2021 (https://arxiv.org/abs/2102.09672), eq. 17:
    alpha-bar(t) = f(t) / f(0), f(t) = cos^2((t/T + s) / (1 + s) * pi/2), beta_t = 1 - alpha-bar_t / alpha-bar_{t-1},
    clipped at 0.999 to avoid the singularity at t = T."""
    t = torch.arange(timesteps + 1, dtype=torch.float64) / timesteps
    f = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2
    return (1 - f[1:] / f[:-1]).clamp(max=max_beta)


class NoiseSchedule(nn.Module):
    """beta_t, alpha_t = 1 - beta_t and alpha-bar_t = prod_{s<=t} alpha_s for t = 0 .. T-1.

    Index t here is the paper's t + 1 (the paper counts 1..T). Products are taken in float64 and stored as
    float32 buffers that follow the model across devices; they are not saved in checkpoints because the
    family's config determines them.
    """

    def __init__(self, *, kind: str = "linear", timesteps: int = 1000) -> None:
        super().__init__()
        betas = BETA_SCHEDULES.get(kind)(timesteps)
        alphas = 1.0 - betas
        self.kind = kind
        self.num_timesteps = timesteps
        self.register_buffer("betas", betas.float(), persistent=False)
        self.register_buffer("alphas", alphas.float(), persistent=False)
        self.register_buffer("alphas_cumprod", torch.cumprod(alphas, 0).float(), persistent=False)

    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Sample q(x_t | x_0) = N(sqrt(alpha-bar_t) x_0, (1 - alpha-bar_t) I) (Ho et al. eq. 4), reparameterised
        with the given ``noise``; ``t`` is a LongTensor of shape (N,) (or a scalar for the whole batch)."""
        abar = self._abar(t, x0)
        return abar.sqrt() * x0 + (1.0 - abar).sqrt() * noise

    def _abar(self, t: torch.Tensor | int, like: torch.Tensor) -> torch.Tensor:
        """alpha-bar_t broadcastable against ``like`` (N, ...): ``t`` of shape (N,), a scalar tensor or an int."""
        t = torch.as_tensor(t, device=like.device)
        abar = self.alphas_cumprod.to(like.device)[t]
        return abar.reshape(-1, *([1] * (like.ndim - 1))).to(like.dtype)

    def velocity(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The v-prediction target v = sqrt(alpha-bar_t) eps - sqrt(1 - alpha-bar_t) x_0 (Salimans & Ho 2022,
        "Progressive Distillation", https://arxiv.org/abs/2202.00512, sec. 4 and appendix D)."""
        abar = self._abar(t, x0)
        return abar.sqrt() * noise - (1.0 - abar).sqrt() * x0

    def noise_from_velocity(self, x_t: torch.Tensor, v: torch.Tensor, t: torch.Tensor | int) -> torch.Tensor:
        """eps = sqrt(alpha-bar_t) v + sqrt(1 - alpha-bar_t) x_t, the inverse of ``velocity`` given x_t
        (x_t and v are a rotation of (x_0, eps) by the angle arctan(sqrt(1 - alpha-bar_t) / sqrt(alpha-bar_t)))."""
        abar = self._abar(t, x_t)
        return abar.sqrt() * v + (1.0 - abar).sqrt() * x_t

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}, timesteps={self.num_timesteps}"
