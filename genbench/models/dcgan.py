"""DCGAN: Radford, Metz & Chintala 2016, "Unsupervised Representation Learning with Deep Convolutional
Generative Adversarial Networks" (https://arxiv.org/abs/1511.06434).

Paper -> code: G = ``generator``, D = ``discriminator``. The paper's architecture guidelines (sec. 3):
strided convolutions instead of pooling, BatchNorm in both nets except G's output and D's input layer,
ReLU in G with Tanh output, LeakyReLU(0.2) in D, no fully connected hidden layers; weights ~ N(0, 0.02),
Adam with lr 2e-4 and beta1 0.5 (sec. 4; the TrainConfig defaults).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from genbench.config import SamplerConfig, TrainConfig
from genbench.models import FAMILIES
from genbench.models.base import GenerativeModel, ImageSpec
from genbench.models.gan_blocks import adversarial_step, make_discriminator, make_generator
from genbench.models.layers import init_normal_, latent_normal


@dataclass(frozen=True)
class Config:
    latent_dim: int = 100  # sec. 4: a 100-d z
    base_channels: int = 64  # width at the highest resolution; doubles at every halving


@FAMILIES.register("dcgan")
class DCGAN(GenerativeModel):
    """Unconditional DCGAN trained with the non-saturating GAN loss (Goodfellow et al. 2014, sec. 3)."""

    cpu_channels_last = True  # oneDNN's NHWC kernels: faster here (GenerativeModel.cpu_channels_last)

    family = "dcgan"
    kind = "gan"
    Config = Config
    sampler_options = frozenset({"truncation"})

    def __init__(self, cfg: Config, image: ImageSpec) -> None:
        super().__init__(cfg, image)
        self.generator = self.build_generator(image)
        self.discriminator = self.build_discriminator(image)

    def build_generator(self, image: ImageSpec) -> nn.Module:
        """G, initialised. Families that feed G more than z (cgan's class) override it."""
        return init_normal_(make_generator(self.cfg, image, family=self.family))

    def build_discriminator(self, image: ImageSpec) -> nn.Module:
        """D, initialised. Families that keep this body but regularise D otherwise (sngan, wgan_gp) override it."""
        return init_normal_(make_discriminator(self.cfg, image, family=self.family))

    def configure_optimizers(self, train: TrainConfig) -> dict[str, torch.optim.Optimizer]:
        def adam(net: nn.Module) -> torch.optim.Optimizer:
            return torch.optim.Adam(net.parameters(), lr=train.lr, betas=train.betas, weight_decay=train.weight_decay)

        return {"generator": adam(self.generator), "discriminator": adam(self.discriminator)}

    def train_step(self, images: torch.Tensor, labels: torch.Tensor,
                   optimizers: dict[str, torch.optim.Optimizer]) -> dict[str, float]:
        z = torch.randn(images.shape[0], self.cfg.latent_dim, 1, 1, device=images.device)
        return adversarial_step(self.discriminator, images, self.generator(z), optimizers)

    def sample(self, n: int, *, generator: torch.Generator, sampler: SamplerConfig,
               labels: torch.Tensor | None = None) -> torch.Tensor:
        z = latent_normal(n, *self.latent_shape, truncation=sampler.truncation, generator=generator,
                          device=self.device)
        return self.generate(z, labels)

    @property
    def latent_shape(self) -> tuple[int, ...]:
        return (self.cfg.latent_dim, 1, 1)

    def generate(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.generator(z).clamp(-1.0, 1.0)

    def discriminator_features(self, images: torch.Tensor) -> torch.Tensor:
        # everything but the final (start x start) conv to one logit and the flatten: the last hidden map
        return self.discriminator[:-2](images).flatten(1)

    def sampling_module(self) -> nn.Module:
        return self.generator
