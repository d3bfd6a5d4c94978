"""Song, Meng & Ermon 2021, "Denoising Diffusion Implicit Models" (https://arxiv.org/abs/2010.02502):
the generalised, non-Markovian reverse process, deterministic at eta = 0."""
from __future__ import annotations

import torch

from genbench.config import SamplerConfig
from genbench.samplers import SAMPLERS
from genbench.samplers.base import Sampler, cpu_noise, predict_x0
from genbench.samplers.schedule import NoiseSchedule


@SAMPLERS.register("ddim")
class DDIMSampler(Sampler):
    """x_prev = sqrt(a_prev) x0_hat + sqrt(1 - a_prev - sigma^2) eps + sigma z (eq. 12), with
    sigma = eta * sqrt((1 - a_prev) / (1 - a_t)) * sqrt(1 - a_t / a_prev) (eq. 16), a = alpha-bar.

    eta = 0 is DDIM proper (no noise is drawn, so the generator does not matter); eta = 1 is DDPM's
    ancestral sampler with the beta-tilde variance. ``clip_x0`` clamps x0_hat to [-1, 1] and re-derives
    eps from it, as diffusers' ``clip_sample`` does, so both terms of eq. 12 stay consistent.
    """

    def __init__(self, schedule: NoiseSchedule, *, eta: float = 0.0, clip_x0: bool = True) -> None:
        if not 0.0 <= eta <= 1.0:
            raise ValueError(f"eta must be in [0, 1], got {eta}")
        self.eta = eta
        self.clip_x0 = clip_x0
        super().__init__(schedule)

    @classmethod
    def from_config(cls, cfg: SamplerConfig, schedule: NoiseSchedule, *, clip_x0: bool = True) -> DDIMSampler:
        return cls(schedule, eta=cfg.eta, clip_x0=clip_x0)

    def step(self, model_output: torch.Tensor, t: int | torch.Tensor, x: torch.Tensor, *,
             generator: torch.Generator | None = None, direction_shift: torch.Tensor | None = None) -> torch.Tensor:
        """``direction_shift`` is added to the eps of the direction term only, after x0_hat is taken: guidance
        that way survives x0 clipping at large t (FreeControl's reference scheduler guides so)."""
        abar, abar_prev = self.coefficients(t)
        eps = model_output
        x0 = predict_x0(x, eps, abar)  # "predicted x_0", the first term of eq. 12
        if self.clip_x0:
            x0 = x0.clamp(-1.0, 1.0)
            eps = (x - abar**0.5 * x0) / (1.0 - abar) ** 0.5
        if direction_shift is not None:
            eps = eps + direction_shift
        sigma = self.eta * ((1.0 - abar_prev) / (1.0 - abar) * (1.0 - abar / abar_prev)) ** 0.5  # eq. 16
        x_prev = abar_prev**0.5 * x0 + max(1.0 - abar_prev - sigma**2, 0.0) ** 0.5 * eps  # eq. 12
        if sigma == 0.0:
            return x_prev
        return x_prev + sigma * cpu_noise(x, generator)
