"""Latent diffusion: Rombach et al. 2022, "High-Resolution Image Synthesis with Latent Diffusion Models"
(https://arxiv.org/abs/2112.10752), the architecture of Stable Diffusion, at MNIST size.

Two stages, as in the paper (sec. 3): an autoencoder E, D compresses an image x to z = E(x) with spatial
downsampling factor f = 4 (28x28x1 -> 7x7x``latent_channels``), then the DDPM UNet learns the noise of
z_t (eq. 2) and samples are D(z_0). Both stages run in one training job: the first ``autoencoder_steps``
steps train E, D on the reconstruction loss, the rest train the UNet on the frozen encoder's latents.
Like the paper's KL-f autoencoders (appendix G), the latents are rescaled to unit standard deviation
(``latent_scale`` = 1 / std of the first diffusion batch's latents, a saved buffer) so that the noise
schedule means what it means in pixel space. A light L2 penalty on z (``latent_penalty``) stands in for the
paper's tiny KL weight: it keeps the latent scale from drifting without constraining the content.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from genbench.config.parse import bounded, limits
from genbench.config import SamplerConfig, TrainConfig
from genbench.errors import ConfigError
from genbench.models import FAMILIES
from genbench.models.base import ImageSpec
from genbench.models.ddpm import DDPM
from genbench.models.ddpm import Config as DDPMConfig
from genbench.models.layers import cpu_randn, group_norm
from genbench.samplers import make_sampler

DOWNSAMPLING = 4  # f of the paper: two stride-2 stages


@dataclass(frozen=True)
class Config(DDPMConfig):
    """The DDPM UNet over 7x7 latents (one resolution level: nothing left to halve) plus the autoencoder."""

    channel_mults: tuple[int, ...] = bounded((1,), min_items=1, each=limits(ge=1))
    num_res_blocks: int = bounded(2, ge=1)
    latent_channels: int = bounded(4, ge=1)
    autoencoder_channels: int = bounded(32, ge=1)
    autoencoder_steps: int = bounded(1000, ge=1)
    latent_penalty: float = bounded(1e-4, ge=0)


def _block(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, padding=1), group_norm(out_channels), nn.SiLU())


class Autoencoder(nn.Module):
    """E: x (C, H, W) -> z (latent_channels, H/4, W/4); D: z -> x in [-1, 1]."""

    def __init__(self, *, channels: int, width: int, latent_channels: int) -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            _block(channels, width), nn.Conv2d(width, width, 3, stride=2, padding=1), nn.SiLU(),
            _block(width, 2 * width), nn.Conv2d(2 * width, 2 * width, 3, stride=2, padding=1), nn.SiLU(),
            _block(2 * width, 2 * width), nn.Conv2d(2 * width, latent_channels, 1))
        self.decoder = nn.Sequential(
            nn.Conv2d(latent_channels, 2 * width, 3, padding=1), nn.SiLU(), _block(2 * width, 2 * width),
            nn.Upsample(scale_factor=2, mode="nearest"), _block(2 * width, width),
            nn.Upsample(scale_factor=2, mode="nearest"), _block(width, width), nn.Conv2d(width, channels, 3, padding=1),
            nn.Tanh())

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)


@FAMILIES.register("ldm")
class LatentDiffusion(DDPM):
    family = "ldm"
    Config = Config
    likelihood_estimators = ()  # the bound would be on latents, not on 8-bit pixels
    pixel_space = False

    def __init__(self, cfg: Config, image: ImageSpec) -> None:
        if image.height % DOWNSAMPLING or image.width % DOWNSAMPLING:
            raise ConfigError(f"ldm: image sides must be multiples of {DOWNSAMPLING} (the autoencoder halves them "
                              f"twice); got {image.height}x{image.width}")
        latent = ImageSpec(cfg.latent_channels, image.height // DOWNSAMPLING, image.width // DOWNSAMPLING,
                           image.num_classes)
        super().__init__(cfg, latent)  # the UNet and schedule see the latent as their "image"
        self.image, self.latent = image, latent
        self.autoencoder = Autoencoder(channels=image.channels, width=cfg.autoencoder_channels,
                                       latent_channels=cfg.latent_channels)
        # Saved with the weights: which stage the next step belongs to, and the latent rescaling.
        self.register_buffer("steps_done", torch.zeros((), dtype=torch.long))
        self.register_buffer("latent_scale", torch.ones(()))

    def configure_optimizers(self, train: TrainConfig) -> dict[str, torch.optim.Optimizer]:
        if train.steps <= self.cfg.autoencoder_steps:
            raise ConfigError(f"ldm: key 'train.steps' ({train.steps}) must exceed 'model.autoencoder_steps' "
                              f"({self.cfg.autoencoder_steps}): the steps after those train the diffusion model")
        adam = dict(lr=train.lr, betas=train.betas, weight_decay=train.weight_decay)
        return {"autoencoder": torch.optim.Adam(self.autoencoder.parameters(), **adam),
                "unet": torch.optim.Adam(self.unet.parameters(), **adam)}

    def train_step(self, images: torch.Tensor, labels: torch.Tensor,
                   optimizers: dict[str, torch.optim.Optimizer]) -> dict[str, float]:
        stage = int(self.steps_done)
        self.steps_done += 1
        if stage < self.cfg.autoencoder_steps:
            return self._autoencoder_step(images, optimizers["autoencoder"])
        with torch.no_grad():
            z = self.autoencoder.encode(images)
            if stage == self.cfg.autoencoder_steps:  # the first diffusion step fixes the scale
                self.latent_scale.copy_(1.0 / z.std().clamp_min(1e-6))
        return super().train_step(z * self.latent_scale, labels, optimizers)

    def _autoencoder_step(self, images: torch.Tensor, optimizer: torch.optim.Optimizer) -> dict[str, float]:
        z = self.autoencoder.encode(images)
        reconstruction = F.mse_loss(self.autoencoder.decode(z), images)
        loss = reconstruction + self.cfg.latent_penalty * z.pow(2).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return {"reconstruction": reconstruction.item()}

    def sample(self, n: int, *, generator: torch.Generator, sampler: SamplerConfig,
               labels: torch.Tensor | None = None) -> torch.Tensor:
        self.check_sampler(sampler, source="ldm.sample", cfg=self.cfg)
        algo = make_sampler(sampler, self.schedule, clip_x0=False)  # latents are not confined to [-1, 1]
        z = cpu_randn(n, *self._latent_shape(), generator=generator, device=self.device)
        z = self.denoise(z, algo, self.noise_estimator(sampler, labels), generator=generator, clamp=False)
        return self.autoencoder.decode(z / self.latent_scale).clamp(-1.0, 1.0)

    def _latent_shape(self) -> tuple[int, int, int]:
        return self.latent.channels, self.latent.height, self.latent.width

    def sampling_module(self) -> nn.Module:
        return self.unet  # the autoencoder is used as trained; the EMA averages the diffusion model
