"""Log-probabilities of 8-bit images under the per-pixel distributions the likelihood families use.

Pixels are in the model range [-1, 1]: level k in {0, ..., 255} sits at k / 127.5 - 1, so each level owns a
bin of width 2/255 around it, and the two end bins reach out to -inf and +inf (Salimans et al. 2017,
PixelCNN++, sec. 2.1; Ho et al. 2020, eq. 13). A continuous distribution integrated over those bins is a
distribution over the 256 levels: its log-probabilities are directly comparable with a 256-way softmax's and
sum to a discrete negative log-likelihood (genbench.metrics.bits_per_dim).
"""
from __future__ import annotations

import math

import torch
from torch.nn import functional as F

HALF_BIN = 1.0 / 255.0  # half the width of a level's bin in [-1, 1]
EDGE = 0.999  # x beyond +-EDGE is level 0 or 255: its bin is open-ended


def to_levels(images: torch.Tensor) -> torch.Tensor:
    """Model-range images in [-1, 1] (exact levels) -> int64 levels 0..255."""
    return ((images + 1.0) * 127.5).round().clamp(0, 255).long()


def _binned(x: torch.Tensor, log_cdf_upper: torch.Tensor, log_sf_lower: torch.Tensor,
            log_mass: torch.Tensor) -> torch.Tensor:
    """log P(bin of x): the open end bins from their tails, the inner bins from ``log_mass``."""
    return torch.where(x < -EDGE, log_cdf_upper, torch.where(x > EDGE, log_sf_lower, log_mass))


def discretised_logistic_log_prob(x: torch.Tensor, mean: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
    """Elementwise log P(x) of a logistic(mean, exp(log_scale)) integrated over x's bin (PixelCNN++ eq. 2,
    one mixture component; its reference code's edge cases and midpoint fallback for tiny bins)."""
    centred = x - mean
    inv_scale = torch.exp(-log_scale)
    upper, lower = inv_scale * (centred + HALF_BIN), inv_scale * (centred - HALF_BIN)
    log_cdf_upper = upper - F.softplus(upper)  # log sigmoid(upper)
    log_sf_lower = -F.softplus(lower)  # log (1 - sigmoid(lower))
    mass = torch.sigmoid(upper) - torch.sigmoid(lower)
    mid = inv_scale * centred  # density at the bin centre times its width, where the difference underflows
    log_mid = mid - log_scale - 2.0 * F.softplus(mid) + math.log(2 * HALF_BIN)
    log_mass = torch.where(mass > 1e-5, torch.log(mass.clamp(min=1e-12)), log_mid)
    return _binned(x, log_cdf_upper, log_sf_lower, log_mass)


def discretised_gaussian_log_prob(x: torch.Tensor, mean: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
    """Elementwise log P(x) of N(mean, exp(log_scale)^2) integrated over x's bin: the DDPM decoder
    p(x_0 | x_1) of Ho et al. eq. 13. The mass of a bin in the right tail is taken from the survival
    function, so that neither side loses it to cancellation."""
    centred = x - mean
    inv_scale = torch.exp(-log_scale)
    upper, lower = inv_scale * (centred + HALF_BIN), inv_scale * (centred - HALF_BIN)
    mass = torch.where(centred > 0, torch.special.ndtr(-lower) - torch.special.ndtr(-upper),
                       torch.special.ndtr(upper) - torch.special.ndtr(lower))
    log_mass = torch.log(mass.clamp(min=1e-12))
    return _binned(x, torch.special.log_ndtr(upper), torch.special.log_ndtr(-lower), log_mass)


def gaussian_kl(mean1: torch.Tensor, logvar1: torch.Tensor, mean2: torch.Tensor,
                logvar2: torch.Tensor) -> torch.Tensor:
    """Elementwise KL(N(mean1, exp(logvar1)) || N(mean2, exp(logvar2))) in nats."""
    return 0.5 * (logvar2 - logvar1 + torch.exp(logvar1 - logvar2) + (mean1 - mean2) ** 2 * torch.exp(-logvar2) - 1.0)


def standard_normal_log_density(z: torch.Tensor) -> torch.Tensor:
    """Elementwise log N(z; 0, 1)."""
    return -0.5 * (z ** 2 + math.log(2 * math.pi))


def per_image(values: torch.Tensor) -> torch.Tensor:
    """Sum over every dimension but the first: elementwise log-probabilities -> one per image."""
    return values.flatten(1).sum(dim=1)
