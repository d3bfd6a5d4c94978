"""Variational autoencoder: Kingma & Welling 2014, "Auto-Encoding Variational Bayes"
(https://arxiv.org/abs/1312.6114).

Paper -> code: q_phi(z|x) = ``encoder`` (a diagonal Gaussian, sec. 3 / appendix C.2), p_theta(x|z) =
``decoder``, p(z) = N(0, I). Convolutional nets replace the paper's MLPs. The decoder's distribution is the
``likelihood`` key: a Bernoulli per pixel (appendix C.1, the paper's binarised MNIST; grey levels used as
soft targets) or a discretised logistic per pixel (Kingma et al. 2016, IAF, sec. 5.2; Salimans et al. 2017),
a distribution over the 256 levels of an 8-bit pixel, which gives the VAE a bound in bits/dim: the negative
ELBO (eq. 3) and the tighter importance-weighted bound of Burda et al. 2016 (IWAE, eq. 8).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn
from torch.nn.functional import binary_cross_entropy_with_logits as bce_logits

from genbench.config import LikelihoodConfig, SamplerConfig, TrainConfig
from genbench.errors import ConfigError
from genbench.models import FAMILIES
from genbench.models.base import GenerativeModel, ImageSpec, to_model_range
from genbench.models.layers import cpu_randn
from genbench.models.likelihood import discretised_logistic_log_prob, per_image, standard_normal_log_density

Likelihood = Literal["bernoulli", "logistic"]
MIN_LOG_SCALE = -7.0  # PixelCNN++'s floor on the logistic's log-scale: keeps a bin's mass finite


@dataclass(frozen=True)
class Config:
    latent_dim: int = 16
    base_channels: int = 32  # width after the first stride-2 conv; doubled after the second
    kl_weight: float = 1.0  # 1 = the ELBO; other values give a beta-VAE (Higgins et al. 2017)
    likelihood: Likelihood = "bernoulli"  # p(x|z): bernoulli (the paper) or logistic (discretised; has bits/dim)


@FAMILIES.register("vae")
class VAE(GenerativeModel):
    """Two stride-2 convs down to (H/4, W/4), a linear map to the posterior's mean and log-variance, and
    the mirror image back up to per-pixel Bernoulli logits (or logistic means and log-scales)."""

    cpu_channels_last = True  # oneDNN's NHWC kernels: faster here (GenerativeModel.cpu_channels_last)

    family = "vae"
    kind = "vae"
    Config = Config
    likelihood_estimators = ("iwae", "elbo")

    def __init__(self, cfg: Config, image: ImageSpec) -> None:
        super().__init__(cfg, image)
        if image.height % 4 or image.width % 4:
            raise ConfigError(f"vae: image sides must be multiples of 4, got {image.height}x{image.width}")
        c, low = cfg.base_channels, (2 * cfg.base_channels, image.height // 4, image.width // 4)
        flat = low[0] * low[1] * low[2]
        outputs = image.channels * (2 if cfg.likelihood == "logistic" else 1)
        self.encoder = nn.Sequential(
            nn.Conv2d(image.channels, c, 4, 2, 1), nn.ReLU(inplace=True),
            nn.Conv2d(c, 2 * c, 4, 2, 1), nn.ReLU(inplace=True),
            nn.Flatten(), nn.Linear(flat, 2 * cfg.latent_dim),  # [mean | log-variance]
        )
        self.decoder = nn.Sequential(
            nn.Linear(cfg.latent_dim, flat), nn.ReLU(inplace=True), nn.Unflatten(1, low),
            nn.ConvTranspose2d(2 * c, c, 4, 2, 1), nn.ReLU(inplace=True),
            nn.ConvTranspose2d(c, outputs, 4, 2, 1),  # p(x|z): logits, or [means | log-scales]
        )

    def configure_optimizers(self, train: TrainConfig) -> dict[str, torch.optim.Optimizer]:
        return {"vae": torch.optim.Adam(self.parameters(), lr=train.lr, betas=train.betas,
                                        weight_decay=train.weight_decay)}

    def log_likelihood(self, images: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log p(x|z) per image, summed over pixels: Bernoulli on grey levels in [0, 1] (a relaxation, not a
        distribution over 8-bit pixels) or the discretised logistic (a distribution over the 256 levels)."""
        out = self.decoder(z)
        if self.cfg.likelihood == "bernoulli":
            return -per_image(bce_logits(out, (images + 1) / 2, reduction="none"))
        mean, log_scale = out.chunk(2, dim=1)
        return per_image(discretised_logistic_log_prob(images, mean, log_scale.clamp(min=MIN_LOG_SCALE)))

    def posterior(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z|x): mean and log-variance."""
        mean, logvar = self.encoder(images).chunk(2, dim=1)
        return mean, logvar

    def train_step(self, images: torch.Tensor, labels: torch.Tensor,
                   optimizers: dict[str, torch.optim.Optimizer]) -> dict[str, float]:
        mean, logvar = self.posterior(images)
        z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)  # reparameterisation trick, eq. 10
        # The ELBO of one image sums log p(x|z) over its pixels and subtracts one KL term, so the
        # reconstruction term is summed over pixels: a per-pixel mean would shrink it by H*W against the KL
        # (an accidental beta-VAE with beta = 784) and blur the samples. Averaging over the batch keeps the
        # scale, and so the learning rate, independent of the batch size.
        batch = images.shape[0]
        recon = -self.log_likelihood(images, z).sum() / batch
        kl = -0.5 * torch.sum(1 + logvar - mean.pow(2) - logvar.exp()) / batch  # KL(q || N(0, I)), appendix B
        loss = recon + self.cfg.kl_weight * kl  # the negative ELBO (eq. 10) when kl_weight = 1

        optimizers["vae"].zero_grad(set_to_none=True)
        loss.backward()
        optimizers["vae"].step()
        return {"loss": loss.item(), "recon": recon.item(), "kl": kl.item()}

    def sample(self, n: int, *, generator: torch.Generator, sampler: SamplerConfig,
               labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.generate(cpu_randn(n, self.cfg.latent_dim, generator=generator, device=self.device))

    @property
    def latent_shape(self) -> tuple[int, ...]:
        return (self.cfg.latent_dim,)

    def generate(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """The decoder's image of z ~ p(z) = N(0, I)."""
        out = self.decoder(z)
        # The decoder's mean (the logistic's location), not a draw from it: per-pixel draws only add noise.
        if self.cfg.likelihood == "bernoulli":
            return torch.sigmoid(out) * 2 - 1
        return out.chunk(2, dim=1)[0].clamp(-1.0, 1.0)

    def sampling_module(self) -> nn.Module:
        return self.decoder

    @classmethod
    def check_likelihood(cls, cfg: Config, *, source: str) -> None:
        if cfg.likelihood != "logistic":
            raise ConfigError(f"{source}: its decoder is '{cfg.likelihood}', which is no distribution over 8-bit "
                              "pixels; set model.likelihood: logistic (or remove it from likelihood.presets)")

    def negative_log_likelihood(self, images: torch.Tensor, *, generator: torch.Generator,
                                settings: LikelihoodConfig) -> dict[str, torch.Tensor]:
        """-ELBO and -IWAE_k (Burda et al. 2016, eq. 8) from the same k posterior draws per image:
        log w_i = log p(x|z_i) + log p(z_i) - log q(z_i|x); IWAE_k = log mean_i w_i >= mean_i log w_i = ELBO
        (Jensen, draw by draw), and IWAE_k rises towards log p(x) with k (their Theorem 1)."""
        self.check_likelihood(self.cfg, source=f"{self.family}.negative_log_likelihood")
        x = to_model_range(images)
        mean, logvar = self.posterior(x)
        std = torch.exp(0.5 * logvar)
        log_w = []
        for _ in range(settings.iwae_k):  # one draw per image at a time: memory stays one batch's
            eps = cpu_randn(*mean.shape, generator=generator, device=mean.device)
            z = mean + std * eps
            log_q = (standard_normal_log_density(eps) - torch.log(std)).sum(dim=1)
            log_w.append(self.log_likelihood(x, z) + standard_normal_log_density(z).sum(dim=1) - log_q)
        log_w = torch.stack(log_w, dim=1)  # (N, k)
        iwae = torch.logsumexp(log_w, dim=1) - math.log(settings.iwae_k)
        return {"iwae": -iwae, "elbo": -log_w.mean(dim=1)}

    def likelihood_protocol(self, settings: LikelihoodConfig) -> dict[str, str]:
        k = settings.iwae_k
        return {"iwae": f"importance-weighted bound (Burda et al. 2016), k={k} posterior draws per image; "
                        "discretised logistic decoder",
                "elbo": f"negative ELBO, Monte Carlo over the same {k} draws (the IWAE bound at k=1)"}
