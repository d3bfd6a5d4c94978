"""Variational autoencoder: Kingma & Welling 2014, "Auto-Encoding Variational Bayes"
(https://arxiv.org/abs/1312.6114).

Paper -> code: q_phi(z|x) = ``encoder`` (a diagonal Gaussian, sec. 3 / appendix C.2), p_theta(x|z) =
``decoder`` (a Bernoulli per pixel, appendix C.1), p(z) = N(0, I). Convolutional nets replace the paper's MLPs.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.functional import binary_cross_entropy_with_logits as bce_logits

from genbench.config import SamplerConfig, TrainConfig
from genbench.errors import ConfigError
from genbench.models import FAMILIES
from genbench.models.base import GenerativeModel, ImageSpec
from genbench.models.layers import cpu_randn


@dataclass(frozen=True)
class Config:
    latent_dim: int = 16
    base_channels: int = 32  # width after the first stride-2 conv; doubled after the second
    kl_weight: float = 1.0  # 1 = the ELBO; other values give a beta-VAE (Higgins et al. 2017)


@FAMILIES.register("vae")
class VAE(GenerativeModel):
    """Two stride-2 convs down to (H/4, W/4), a linear map to the posterior's mean and log-variance, and
    the mirror image back up to per-pixel Bernoulli logits."""

    cpu_channels_last = True  # oneDNN's NHWC kernels: faster here (GenerativeModel.cpu_channels_last)

    family = "vae"
    kind = "vae"
    Config = Config

    def __init__(self, cfg: Config, image: ImageSpec) -> None:
        super().__init__(cfg, image)
        if image.height % 4 or image.width % 4:
            raise ConfigError(f"vae: image sides must be multiples of 4, got {image.height}x{image.width}")
        c, low = cfg.base_channels, (2 * cfg.base_channels, image.height // 4, image.width // 4)
        flat = low[0] * low[1] * low[2]
        self.encoder = nn.Sequential(
            nn.Conv2d(image.channels, c, 4, 2, 1), nn.ReLU(inplace=True),
            nn.Conv2d(c, 2 * c, 4, 2, 1), nn.ReLU(inplace=True),
            nn.Flatten(), nn.Linear(flat, 2 * cfg.latent_dim),  # [mean | log-variance]
        )
        self.decoder = nn.Sequential(
            nn.Linear(cfg.latent_dim, flat), nn.ReLU(inplace=True), nn.Unflatten(1, low),
            nn.ConvTranspose2d(2 * c, c, 4, 2, 1), nn.ReLU(inplace=True),
            nn.ConvTranspose2d(c, image.channels, 4, 2, 1),  # logits of p(x|z)
        )

    def configure_optimizers(self, train: TrainConfig) -> dict[str, torch.optim.Optimizer]:
        return {"vae": torch.optim.Adam(self.parameters(), lr=train.lr, betas=train.betas,
                                        weight_decay=train.weight_decay)}

    def train_step(self, images: torch.Tensor, labels: torch.Tensor,
                   optimizers: dict[str, torch.optim.Optimizer]) -> dict[str, float]:
        mean, logvar = self.encoder(images).chunk(2, dim=1)
        z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)  # reparameterisation trick, eq. 10
        logits = self.decoder(z)
        # The ELBO of one image sums log p(x|z) over its pixels and subtracts one KL term, so the
        # reconstruction term is summed over pixels: a per-pixel mean would shrink it by H*W against the KL
        # (an accidental beta-VAE with beta = 784) and blur the samples. Averaging over the batch keeps the
        # scale, and so the learning rate, independent of the batch size. Grey levels mapped to [0, 1] are
        # used as Bernoulli targets, the usual relaxation for non-binarised MNIST.
        batch = images.shape[0]
        recon = bce_logits(logits, (images + 1) / 2, reduction="sum") / batch
        kl = -0.5 * torch.sum(1 + logvar - mean.pow(2) - logvar.exp()) / batch  # KL(q || N(0, I)), appendix B
        loss = recon + self.cfg.kl_weight * kl  # the negative ELBO (eq. 10) when kl_weight = 1

        optimizers["vae"].zero_grad(set_to_none=True)
        loss.backward()
        optimizers["vae"].step()
        return {"loss": loss.item(), "recon": recon.item(), "kl": kl.item()}

    def sample(self, n: int, *, generator: torch.Generator, sampler: SamplerConfig,
               labels: torch.Tensor | None = None) -> torch.Tensor:
        z = cpu_randn(n, self.cfg.latent_dim, generator=generator, device=self.device)
        # The Bernoulli mean, not a draw from it: per-pixel coin flips would only add salt-and-pepper noise.
        return torch.sigmoid(self.decoder(z)) * 2 - 1

    def sampling_module(self) -> nn.Module:
        return self.decoder
