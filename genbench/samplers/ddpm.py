"""Ancestral sampling of Ho et al. 2020, "Denoising Diffusion Probabilistic Models"
(https://arxiv.org/abs/2006.11239), Algorithm 2, on any subsequence of the training timesteps."""
from __future__ import annotations

import torch

from genbench.config import SamplerConfig
from genbench.samplers import SAMPLERS
from genbench.samplers.base import Sampler, cpu_noise, predict_x0
from genbench.samplers.schedule import NoiseSchedule


@SAMPLERS.register("ddpm")
class DDPMSampler(Sampler):
    """x_{t-1} ~ p(x_{t-1} | x_t) = q(x_{t-1} | x_t, x_0 = x0_hat(x_t, eps)), variance beta-tilde_t.

    Of the paper's two variances (sec. 3.2) we take beta-tilde_t, the posterior variance: it is the right
    one for a deterministic x_0 and, unlike beta_t, goes to 0 at the last step. On a subsequence
    tau_1 < ... < tau_k of timesteps, the step uses the respaced beta_i = 1 - alpha-bar_{tau_i} / alpha-bar_{tau_{i-1}}
    (Nichol & Dhariwal 2021, sec. 4), which reduces to the training beta_t when all T steps are used.

    ``clip_x0`` clamps the predicted x_0 to the data range [-1, 1] before the posterior mean, as Ho et al.'s
    released code (and diffusers' default) does; without it the step is exactly eq. 11.
    """

    def __init__(self, schedule: NoiseSchedule, *, clip_x0: bool = True) -> None:
        self.clip_x0 = clip_x0
        super().__init__(schedule)

    @classmethod
    def from_config(cls, cfg: SamplerConfig, schedule: NoiseSchedule, *, clip_x0: bool = True) -> DDPMSampler:
        return cls(schedule, clip_x0=clip_x0)

    def step(self, model_output: torch.Tensor, t: int | torch.Tensor, x: torch.Tensor, *,
             generator: torch.Generator | None = None) -> torch.Tensor:
        abar, abar_prev = self.coefficients(t)
        alpha = abar / abar_prev
        beta = 1.0 - alpha
        x0 = predict_x0(x, model_output, abar)  # eq. 15
        if self.clip_x0:
            x0 = x0.clamp(-1.0, 1.0)
        # Posterior mean mu-tilde_t(x_t, x_0) and variance beta-tilde_t, eq. 7.
        mean = (abar_prev**0.5 * beta / (1.0 - abar)) * x0 + (alpha**0.5 * (1.0 - abar_prev) / (1.0 - abar)) * x
        variance = (1.0 - abar_prev) / (1.0 - abar) * beta
        if variance == 0.0:  # the last step (alpha-bar_prev = 1): Algorithm 2's z = 0 when t = 1
            return mean
        return mean + variance**0.5 * cpu_noise(x, generator)  # Algorithm 2, line 4
