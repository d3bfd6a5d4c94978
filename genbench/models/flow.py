"""Glow: Kingma & Dhariwal 2018, "Glow: Generative Flow with Invertible 1x1 Convolutions"
(https://arxiv.org/abs/1807.03039), on RealNVP's multi-scale architecture (Dinh, Sohl-Dickstein & Bengio 2017,
https://arxiv.org/abs/1605.08803, sec. 3.6).

An invertible map f from images to latents, so log p(y) = log p_Z(f(y)) + log |det df/dy| exactly (RealNVP
eq. 3). Each of ``levels`` levels squeezes 2x2 pixels into channels (RealNVP sec. 3.6), runs
``steps_per_level`` flow steps of Glow Table 1 (actnorm, invertible 1x1 convolution, affine coupling with
RealNVP's bounded log-scale), then factors out half of the channels as latents whose Gaussian prior is
predicted from the other half (Glow's "split", zero-initialised); the last level's latents are standard normal.

Data (Glow sec. 5): 8-bit x dequantised with uniform noise, y = (x + u) / 256 - 0.5, u ~ U[0, 1)^D: the
density of y then bounds the discrete likelihood of x (genbench.metrics.bits_per_dim). Sampling inverts f on
latents drawn at temperature T (the sampler's ``temperature``: every prior's standard deviation times T, Glow
sec. 5 / Fig. 8) and rounds y back to levels.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F

from genbench.config.parse import bounded
from genbench.config import LikelihoodConfig, SamplerConfig, TrainConfig
from genbench.errors import ConfigError
from genbench.metrics.bits_per_dim import LEVELS
from genbench.models import FAMILIES
from genbench.models.base import GenerativeModel, ImageSpec
from genbench.models.layers import cpu_randn
from genbench.models.likelihood import per_image, standard_normal_log_density
from genbench.models.losses import descend


@dataclass(frozen=True)
class Config:
    levels: int = bounded(2, ge=1)  # L: 28 -> 14 -> 7 (Glow: 3 levels at 32x32)
    steps_per_level: int = bounded(16, ge=1)  # K (Glow: 32)
    hidden_channels: int = bounded(256, ge=1)  # width of each coupling's network (Glow: 512)


def squeeze(x: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, 4C, H/2, W/2), each 2x2 block of pixels into channels (RealNVP Fig. 3)."""
    n, c, h, w = x.shape
    return x.reshape(n, c, h // 2, 2, w // 2, 2).permute(0, 1, 3, 5, 2, 4).reshape(n, 4 * c, h // 2, w // 2)


def unsqueeze(x: torch.Tensor) -> torch.Tensor:
    n, c, h, w = x.shape
    return x.reshape(n, c // 4, 2, 2, h, w).permute(0, 1, 4, 2, 5, 3).reshape(n, c // 4, 2 * h, 2 * w)


def zero_conv(in_channels: int, out_channels: int) -> nn.Conv2d:
    """A 3x3 conv initialised to zero: each coupling starts as the identity and each prior as N(0, I) (Glow sec. 3.3)."""
    conv = nn.Conv2d(in_channels, out_channels, 3, padding=1)
    nn.init.zeros_(conv.weight)
    nn.init.zeros_(conv.bias)
    return conv


class ActNorm(nn.Module):
    """y = (x + b) * exp(s) per channel, b and s set from the first training batch so that its activations have
    zero mean and unit variance per channel (Glow sec. 3.1); after that ordinary parameters."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.log_scale = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.register_buffer("initialised", torch.tensor(False))  # saved: a resumed run does not re-initialise

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.training and not self.initialised:
            with torch.no_grad():
                self.bias.copy_(-x.mean(dim=(0, 2, 3), keepdim=True))
                self.log_scale.copy_(-torch.log(x.std(dim=(0, 2, 3), keepdim=True) + 1e-6))
                self.initialised.fill_(True)
        logdet = x.shape[2] * x.shape[3] * self.log_scale.sum()
        return (x + self.bias) * torch.exp(self.log_scale), logdet.expand(x.shape[0])

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        return y * torch.exp(-self.log_scale) - self.bias


class InvertibleConv1x1(nn.Module):
    """y = W x at every pixel, W initialised to a random rotation; log-det = H W log |det W| (Glow sec. 3.2)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.linalg.qr(torch.randn(channels, channels))[0])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logdet = x.shape[2] * x.shape[3] * torch.linalg.slogdet(self.weight)[1]
        return F.conv2d(x, self.weight[:, :, None, None]), logdet.expand(x.shape[0])

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        return F.conv2d(y, torch.linalg.inv(self.weight)[:, :, None, None])


# A float32 inverse can overflow on rare latents (exploding inverses: Behrmann et al. 2021,
# https://arxiv.org/abs/2006.09347): each coupling that contracts in the forward direction expands in the inverse,
# and the blow-up compounds over the steps (NaN in ~1 image in 1,000 of a briefly trained flow). Sampling bounds
# each inverted activation and drawn latent (an image lies in [-0.5, 0.5]; latents are O(1)), so such a draw
# becomes a saturated image rather than NaN; the forward pass, and with it every likelihood, is untouched.
INVERSE_BOUND = 1e4


class AffineCoupling(nn.Module):
    """x = [x_a, x_b]: y_a = x_a, y_b = (x_b + t(x_a)) * exp(s(x_a)) (Glow Table 1), with RealNVP's bounded
    log-scale s = rescale * tanh(raw) (Dinh et al. 2017's code; ``rescale`` learned per channel). Glow's own
    sigmoid(raw + 2) scale only contracts in the forward direction; the near-constant background of digit images
    needs expansion there (MNIST, 300 steps at the default size: 3.32 vs 3.59 bits/dim in training)."""

    def __init__(self, channels: int, hidden: int) -> None:
        super().__init__()
        self.half = channels // 2
        self.net = nn.Sequential(nn.Conv2d(self.half, hidden, 3, padding=1), nn.ReLU(),
                                 nn.Conv2d(hidden, hidden, 1), nn.ReLU(),
                                 zero_conv(hidden, 2 * (channels - self.half)))
        self.rescale = nn.Parameter(torch.ones(1, channels - self.half, 1, 1))

    def _shift_log_scale(self, x_a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.net(x_a)
        return h[:, 0::2], self.rescale * torch.tanh(h[:, 1::2])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x_a, x_b = x[:, :self.half], x[:, self.half:]
        shift, log_scale = self._shift_log_scale(x_a)
        return torch.cat([x_a, (x_b + shift) * torch.exp(log_scale)], dim=1), per_image(log_scale)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        y_a, y_b = y[:, :self.half], y[:, self.half:]
        shift, log_scale = self._shift_log_scale(y_a)
        return torch.cat([y_a, y_b * torch.exp(-log_scale) - shift], dim=1)


class FlowStep(nn.Module):
    def __init__(self, channels: int, hidden: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList([ActNorm(channels), InvertibleConv1x1(channels), AffineCoupling(channels, hidden)])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logdet = torch.zeros(x.shape[0], device=x.device)
        for layer in self.layers:
            x, ld = layer(x)
            logdet = logdet + ld
        return x, logdet

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        for layer in reversed(self.layers):
            y = layer.inverse(y.clamp(-INVERSE_BOUND, INVERSE_BOUND))
        return y.clamp(-INVERSE_BOUND, INVERSE_BOUND)


def gaussian_log_density(z: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    return per_image(standard_normal_log_density((z - mean) * torch.exp(-log_std)) - log_std)


@FAMILIES.register("flow")
class Glow(GenerativeModel):
    family = "flow"
    kind = "flow"
    Config = Config
    sampler_algos = ("inverse",)
    sampler_options = frozenset({"temperature"})
    likelihood_estimators = ("nll",)

    def __init__(self, cfg: Config, image: ImageSpec) -> None:
        super().__init__(cfg, image)
        factor = 2 ** cfg.levels
        if image.height % factor or image.width % factor:
            raise ConfigError(f"flow: key 'model.levels' is {cfg.levels}, so image sides must be multiples of "
                              f"{factor}; got {image.height}x{image.width}")
        self.levels, self.priors = nn.ModuleList(), nn.ModuleList()
        channels = image.channels
        for level in range(cfg.levels):
            channels *= 4  # squeeze
            self.levels.append(nn.ModuleList(FlowStep(channels, cfg.hidden_channels)
                                             for _ in range(cfg.steps_per_level)))
            if level < cfg.levels - 1:  # split: half the channels become latents, their prior from the rest
                kept = channels - channels // 2
                self.priors.append(zero_conv(kept, 2 * (channels // 2)))
                channels = kept
        self.top_shape = (channels, image.height // factor, image.width // factor)

    def encode(self, y: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
        """f(y): the latents (each split level's, then the top's), log |det df/dy| and log p_Z of the latents,
        per image."""
        h, logdet = y, torch.zeros(y.shape[0], device=y.device)
        latents, log_prior = [], torch.zeros_like(logdet)
        for level, steps in enumerate(self.levels):
            h = squeeze(h)
            for step in steps:
                h, step_logdet = step(h)
                logdet = logdet + step_logdet
            if level < len(self.priors):
                z, h = h[:, :h.shape[1] // 2], h[:, h.shape[1] // 2:]
                mean, log_std = self.priors[level](h).chunk(2, dim=1)
                latents.append(z)
                log_prior = log_prior + gaussian_log_density(z, mean, log_std)
        return latents + [h], logdet, log_prior + per_image(standard_normal_log_density(h))

    def decode(self, top: torch.Tensor, split_latent: Callable[[int, torch.Tensor, torch.Tensor], torch.Tensor]
               ) -> torch.Tensor:
        """f^-1: y from the top latents, each split level's latents given by ``split_latent(level, mean, log_std)``
        of that level's prior (a draw when sampling, the encoded latents when inverting)."""
        h = top
        for level in reversed(range(len(self.levels))):
            if level < len(self.priors):
                mean, log_std = self.priors[level](h).chunk(2, dim=1)
                z = split_latent(level, mean, log_std).clamp(-INVERSE_BOUND, INVERSE_BOUND)  # a prior fed by a
                h = torch.cat([z, h], dim=1)  # saturated activation may itself overflow (see INVERSE_BOUND)
            for step in reversed(self.levels[level]):
                h = step.inverse(h)
            h = unsqueeze(h)
        return h

    def log_density(self, y: torch.Tensor) -> torch.Tensor:
        """log p(y) per image by the change of variables (RealNVP eq. 3), y in [-0.5, 0.5)."""
        _, logdet, log_prior = self.encode(y)
        return log_prior + logdet

    def generate_from_noise(self, n: int, *, generator: torch.Generator, temperature: float = 1.0) -> torch.Tensor:
        """``decode`` of latents drawn at ``temperature``: y in about [-0.5, 0.5)."""
        def draw(level: int, mean: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
            eps = cpu_randn(*mean.shape, generator=generator, device=self.device)
            return mean + temperature * torch.exp(log_std) * eps

        top = temperature * cpu_randn(n, *self.top_shape, generator=generator, device=self.device)
        return self.decode(top, draw)

    def dequantise(self, images: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """y = (x + u) / 256 - 0.5 from images in [-1, 1] on 8-bit levels and u in [0, 1)."""
        levels = ((images + 1.0) * 127.5).round()
        return (levels + noise) / LEVELS - 0.5

    def configure_optimizers(self, train: TrainConfig) -> dict[str, torch.optim.Optimizer]:
        return {"flow": torch.optim.Adam(self.parameters(), lr=train.lr, betas=train.betas,
                                         weight_decay=train.weight_decay)}

    def train_step(self, images: torch.Tensor, labels: torch.Tensor,
                   optimizers: dict[str, torch.optim.Optimizer]) -> dict[str, float]:
        y = self.dequantise(images, torch.rand_like(images))
        dims = images[0].numel()
        # -log p(x) <= -log p(y) + D log 256 (bits_per_dim.dequantised_nll), per dimension
        loss = (-self.log_density(y).mean() + dims * math.log(LEVELS)) / dims
        descend(optimizers["flow"], loss)
        return {"loss": loss.item(), "bits_per_dim": loss.item() / math.log(2.0)}

    def sample(self, n: int, *, generator: torch.Generator, sampler: SamplerConfig,
               labels: torch.Tensor | None = None) -> torch.Tensor:
        self.check_sampler(sampler, source=f"{self.family}.sample")
        y = self.generate_from_noise(n, generator=generator, temperature=sampler.temperature)
        levels = torch.floor((y + 0.5) * LEVELS).clamp(0, LEVELS - 1)  # the bin y fell in
        return levels / 127.5 - 1.0

    def preview_sampler(self) -> SamplerConfig:
        return SamplerConfig(algo="inverse")  # temperature 1: the model's own distribution

    def negative_log_likelihood(self, images: torch.Tensor, *, generator: torch.Generator,
                                settings: LikelihoodConfig) -> dict[str, torch.Tensor]:
        x = images.float() / 127.5 - 1.0
        dims = images[0].numel()
        nll = torch.zeros(images.shape[0], device=images.device)
        for _ in range(settings.dequantisation_draws):
            noise = torch.rand(images.shape, generator=generator).to(images.device)
            nll = nll - self.log_density(self.dequantise(x, noise)) + dims * math.log(LEVELS)
        return {"nll": nll / settings.dequantisation_draws}

    def likelihood_protocol(self, settings: LikelihoodConfig) -> dict[str, str]:
        return {"nll": f"exact density by change of variables, uniform dequantisation y = (x + u) / 256 "
                       f"({settings.dequantisation_draws} draw(s) of u per image): an upper bound on -log P(x)"}
