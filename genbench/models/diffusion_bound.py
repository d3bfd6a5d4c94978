"""The variational bound of a DDPM on the negative log-likelihood of 8-bit images: Ho et al. 2020, eq. 5 and
sec. 3.3 (https://arxiv.org/abs/2006.11239), computed as Nichol & Dhariwal 2021's ``calc_bpd_loop``
(improved-diffusion, gaussian_diffusion.py):

    L_vlb = L_T + sum_{t=2..T} L_{t-1} + L_0
    L_T     = KL(q(x_T | x_0) || N(0, I))                              (the prior term; no parameters)
    L_{t-1} = KL(q(x_{t-1} | x_t, x_0) || p_theta(x_{t-1} | x_t))      (x_t ~ q(x_t | x_0), one draw per t)
    L_0     = -log p_theta(x_0 | x_1)                                  (the discretised Gaussian of eq. 13)

p_theta(x_{t-1} | x_t) = N(mu~_t(x_t, x0_hat), sigma_t^2): the posterior mean of eq. 7 at the x_0 the predicted
noise implies (clipped to [-1, 1], as the samplers do), with the fixed variance sigma_t^2 = beta~_t (eq. 7;
the posterior's own, so that a perfect x_0 predictor makes every L_{t-1} zero). At t = 1, where beta~_1 = 0,
the decoder takes beta~_2 (improved-diffusion's clipped log-variance).

With ``steps`` < T the bound is that of the respaced chain over evenly spaced steps tau_1 < ... < tau_K
(alpha-bar kept at those steps; Nichol & Dhariwal sec. 4): a valid bound of that shorter model, looser.
Paper t = 1..T is index t - 1 here, as in ``genbench.samplers.schedule``.
"""
from __future__ import annotations

import math
from typing import Callable

import torch

from genbench.models.layers import cpu_randn
from genbench.models.likelihood import discretised_gaussian_log_prob, gaussian_kl, per_image

NoiseEstimate = Callable[[torch.Tensor, int], torch.Tensor]  # (x_t, index t) -> eps


def bound_timesteps(timesteps: int, steps: int = 0) -> list[int]:
    """Indices 0 = tau_1 < ... < tau_K = T - 1 of the chain the bound walks: all T when ``steps`` is 0."""
    if steps in (0, timesteps):
        return list(range(timesteps))
    if not 2 <= steps <= timesteps:
        raise ValueError(f"steps must be 0 or in [2, {timesteps}], got {steps}")
    return sorted({round(i * (timesteps - 1) / (steps - 1)) for i in range(steps)})


def vlb_terms(eps: NoiseEstimate, x0: torch.Tensor, alphas_cumprod: torch.Tensor, *, generator: torch.Generator,
              steps: int = 0) -> torch.Tensor:
    """Per-image terms of the bound in nats, shape (N, K + 1): [L_0, L_1, ..., L_{K-1}, L_K = L_T] for the K
    timesteps of ``bound_timesteps``; their sum over the last axis is -L_vlb's bound on -log P(x_0).

    ``x0``: images in [-1, 1] on exact 8-bit levels; ``alphas_cumprod``: alpha-bar_t of the model's schedule.
    """
    abar = alphas_cumprod.double().cpu()
    taus = bound_timesteps(len(abar), steps)
    terms = [torch.zeros(x0.shape[0], device=x0.device)] * (len(taus) + 1)
    # L_T: q(x_T | x_0) = N(sqrt(abar_T) x_0, (1 - abar_T) I) against N(0, I)
    a_T = float(abar[taus[-1]])
    terms[-1] = per_image(gaussian_kl(math.sqrt(a_T) * x0, torch.full_like(x0, math.log(1 - a_T)),
                                      torch.zeros_like(x0), torch.zeros_like(x0)))
    for i in range(len(taus) - 1, -1, -1):
        t = taus[i]
        a_t = float(abar[t])
        a_s = float(abar[taus[i - 1]]) if i > 0 else 1.0  # alpha-bar of the step the chain goes to (x_0: 1)
        noise = cpu_randn(*x0.shape, generator=generator, device=x0.device)
        x_t = math.sqrt(a_t) * x0 + math.sqrt(1 - a_t) * noise  # eq. 4
        x0_hat = ((x_t - math.sqrt(1 - a_t) * eps(x_t, t)) / math.sqrt(a_t)).clamp(-1.0, 1.0)
        model_mean = _posterior_mean(x0_hat, x_t, a_t, a_s)
        if i > 0:
            logvar = math.log(_posterior_variance(a_t, a_s))
            true_mean = _posterior_mean(x0, x_t, a_t, a_s)
            terms[i] = per_image(gaussian_kl(true_mean, torch.full_like(x0, logvar), model_mean,
                                             torch.full_like(x0, logvar)))
        else:  # the decoder p(x_0 | x_1), eq. 13, with beta~ of the next step (beta~_1 = 0)
            a_next = float(abar[taus[1]]) if len(taus) > 1 else a_t
            log_scale = 0.5 * math.log(_posterior_variance(a_next, a_t))
            terms[0] = -per_image(discretised_gaussian_log_prob(x0, model_mean, torch.full_like(x0, log_scale)))
    return torch.stack(terms, dim=1)


def _posterior_mean(x0: torch.Tensor, x_t: torch.Tensor, a_t: float, a_s: float) -> torch.Tensor:
    """mu~(x_t, x_0) of q(x_s | x_t, x_0) for a step from alpha-bar a_t back to a_s (eq. 7 with beta = 1 - a_t/a_s)."""
    beta = 1 - a_t / a_s
    return (math.sqrt(a_s) * beta * x0 + math.sqrt(a_t / a_s) * (1 - a_s) * x_t) / (1 - a_t)


def _posterior_variance(a_t: float, a_s: float) -> float:
    """beta~ of q(x_s | x_t, x_0) (eq. 7): (1 - a_s) / (1 - a_t) * (1 - a_t / a_s)."""
    return (1 - a_s) / (1 - a_t) * (1 - a_t / a_s)
