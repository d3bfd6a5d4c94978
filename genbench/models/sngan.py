"""SN-GAN: Miyato, Kataoka, Koyama & Yoshida 2018, "Spectral Normalization for Generative Adversarial
Networks" (https://arxiv.org/abs/1802.05957).

Paper -> code: G = ``generator``, D = ``discriminator``. Every layer of D has its weight W replaced by
W / sigma(W) (eq. 8), sigma(W) its largest singular value, estimated by one power iteration per forward in
training (Algorithm 1; torch's ``spectral_norm`` reshapes a conv kernel to (out, in * k * k) as the paper
does). Each layer is then 1-Lipschitz, and so is D (LeakyReLU is too), and D needs no other normalisation:
it has none. Trained with the hinge loss (eq. 17, after Lim & Ye 2017), one D update per G update: setting
C of Table 1 (Adam lr 2e-4, betas (0.5, 0.999), n_dis 1; in params/models/sngan.yaml).

The networks are DCGAN's (this class is ``dcgan.DCGAN`` with another D and loss), not Table 3's "standard
CNN", which adds stride-1 3x3 convs and uses a LeakyReLU slope of 0.1: the GAN families of this benchmark
then differ in loss and regulariser, not in architecture. The paper's 128-d z is kept (Table 3).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from genbench.models import FAMILIES
from genbench.models.base import ImageSpec
from genbench.models.dcgan import DCGAN
from genbench.models.gan_blocks import make_discriminator
from genbench.models.layers import init_normal_
from genbench.models.losses import descend, hinge_d_loss, hinge_g_loss


@dataclass(frozen=True)
class Config:
    latent_dim: int = 128  # Table 3: z in R^128
    base_channels: int = 64  # width at the highest resolution; doubles at every halving (dcgan.Config)


def spectral_normalise_(net: nn.Module) -> nn.Module:
    """Put every conv and linear layer of ``net`` under spectral normalisation (eq. 8), in place. Call it
    after initialising the weights: the parametrisation keeps them as its unnormalised original. torch runs
    15 power iterations when it registers one, so sigma(W) is already accurate before the first step."""
    for layer in list(net.modules()):
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            spectral_norm(layer)
    return net


@FAMILIES.register("sngan")
class SNGAN(DCGAN):
    """Unconditional GAN with a spectrally normalised D and the hinge loss. Everything else is DCGAN's:
    G, its Adam pair, and sampling with its ``truncation`` option."""

    family = "sngan"
    Config = Config

    def build_discriminator(self, image: ImageSpec) -> nn.Module:
        return spectral_normalise_(init_normal_(make_discriminator(self.cfg, image, norm=None, family=self.family)))

    def train_step(self, images: torch.Tensor, labels: torch.Tensor,
                   optimizers: dict[str, torch.optim.Optimizer]) -> dict[str, float]:
        z = torch.randn(images.shape[0], *self.latent_shape, device=images.device)
        fake = self.generator(z)
        # D descends E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))]. Real and fake share one forward (one
        # power iteration): D has no batch statistics, so a sample's score does not depend on its batch.
        real_scores, fake_scores = self.discriminator(torch.cat([images, fake.detach()])).split(images.shape[0])
        loss_d = hinge_d_loss(real_scores, fake_scores)
        descend(optimizers["discriminator"], loss_d)
        loss_g = hinge_g_loss(self.discriminator(fake))  # G descends -E[D(G(z))], scored by the updated D
        descend(optimizers["generator"], loss_g)
        return {"loss_d": loss_d.item(), "loss_g": loss_g.item(),
                "d_real": real_scores.mean().item(), "d_fake": fake_scores.mean().item()}
