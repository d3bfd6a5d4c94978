"""Conditional GAN: Mirza & Osindero 2014, "Conditional Generative Adversarial Nets"
(https://arxiv.org/abs/1411.1784), on the DCGAN body of ``dcgan.py`` (Radford et al. 2016).

Paper -> code: G(z|y) = ``generator``, D(x|y) = ``discriminator``. Sec. 3.2: "y is fed into both the
discriminator and generator as additional input layer", so G sees [z, one_hot(y)] and D sees the image
stacked with num_classes one-hot planes (channel y all ones, the others zero); eq. (2) is eq. (1) of
Goodfellow et al. with both terms conditioned on y. The paper's MNIST nets are MLPs; conditioning a DCGAN
at its inputs is the usual convolutional form of the same model. Loss and step are dcgan's (non-saturating).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.functional import one_hot

from genbench.config.parse import bounded
from genbench.models import FAMILIES
from genbench.models.base import GenerativeModel, ImageSpec
from genbench.models.dcgan import DCGAN
from genbench.models.gan_blocks import adversarial_step, make_discriminator, make_generator
from genbench.models.layers import balanced_labels, init_normal_


@dataclass(frozen=True)
class Config:
    # Sec. 4.1 draws a 100-d z (uniform there); normal here, as in dcgan.py, so that truncation applies.
    latent_dim: int = bounded(100, ge=1)
    base_channels: int = bounded(64, ge=1)  # width at the highest resolution; doubles at every halving (dcgan.Config)


@FAMILIES.register("cgan")
class CGAN(DCGAN):
    """Class-conditional DCGAN; ``sample(labels=y)`` draws class y (a balanced sequence when labels is None).
    Everything but the conditioning is DCGAN's: the Adam pair, the loss and step, truncated-z sampling."""

    family = "cgan"
    Config = Config
    label_kind = "class"
    # D scores (image, class) pairs, so it has no features of an image alone: no discriminator experiments.
    discriminator_features = GenerativeModel.discriminator_features

    def build_generator(self, image: ImageSpec) -> nn.Module:
        return init_normal_(make_generator(self.cfg, image, extra_inputs=image.num_classes, family=self.family))

    def build_discriminator(self, image: ImageSpec) -> nn.Module:
        return init_normal_(make_discriminator(self.cfg, image, extra_inputs=image.num_classes, family=self.family))

    def conditioned_fake(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """G(z|y): the one-hot class appended to z's channels (N, latent_dim + num_classes, 1, 1)."""
        y = one_hot(labels, self.image.num_classes).to(z.dtype)[:, :, None, None]
        return self.generator(torch.cat([z, y], dim=1))

    def discriminate(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """D(x|y): one logit per image from the image stacked with the class's one-hot planes (N, K, H, W)."""
        n, _, height, width = images.shape
        planes = one_hot(labels, self.image.num_classes).to(images.dtype)[:, :, None, None]
        return self.discriminator(torch.cat([images, planes.expand(n, -1, height, width)], dim=1))

    def train_step(self, images: torch.Tensor, labels: torch.Tensor,
                   optimizers: dict[str, torch.optim.Optimizer]) -> dict[str, float]:
        # Fakes are drawn for the batch's own labels, so y follows the data's class frequencies in both terms
        # of eq. (2) and D never sees a class balance that differs between real and fake.
        z = torch.randn(images.shape[0], *self.latent_shape, device=images.device)
        fake = self.conditioned_fake(z, labels)
        return adversarial_step(lambda x: self.discriminate(x, labels), images, fake, optimizers)

    def generate(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if labels is None:
            labels = balanced_labels(z.shape[0], self.image.num_classes, z.device)
        return self.conditioned_fake(z, labels).clamp(-1.0, 1.0)
