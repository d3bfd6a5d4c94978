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
from torch.nn.functional import binary_cross_entropy_with_logits as bce_logits

from genbench.config import ConfigError, SamplerConfig, TrainConfig
from genbench.models import FAMILIES
from genbench.models.base import GenerativeModel, ImageSpec
from genbench.models.layers import cpu_randn, init_normal_


@dataclass(frozen=True)
class Config:
    latent_dim: int = 100  # sec. 4: a 100-d z
    base_channels: int = 64  # width at the highest resolution; doubles at every halving


def pyramid(image: ImageSpec) -> tuple[int, int]:
    """(start, halvings) with side = start * 2**halvings and 4 <= start <= 7: 28 = 7 * 2**2, 32 = 4 * 2**3.

    G grows a ``start`` x ``start`` map from z by one transposed conv, then doubles it ``halvings`` times;
    D mirrors it. Sides with no such factorisation (e.g. 30) have no DCGAN of this shape.
    """
    side, halvings = image.height, 0
    while side % 2 == 0 and side > 7:
        side, halvings = side // 2, halvings + 1
    if image.width != image.height or halvings == 0 or side > 7:
        raise ConfigError(f"dcgan: cannot model {image.height}x{image.width} images (needs square images whose "
                          f"side is 4..7 times a power of two, e.g. 28 or 32)")
    return side, halvings


def make_generator(cfg: Config, image: ImageSpec) -> nn.Sequential:
    start, halvings = pyramid(image)
    widths = [cfg.base_channels * 2**i for i in reversed(range(halvings))]  # 28x28: [128, 64]
    # Convolutions followed by BatchNorm carry no bias: BatchNorm's shift replaces it.
    layers: list[nn.Module] = [nn.ConvTranspose2d(cfg.latent_dim, widths[0], start, 1, 0, bias=False),
                               nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True)]  # z -> start x start
    for w_in, w_out in zip(widths, widths[1:]):
        layers += [nn.ConvTranspose2d(w_in, w_out, 4, 2, 1, bias=False), nn.BatchNorm2d(w_out), nn.ReLU(inplace=True)]
    layers += [nn.ConvTranspose2d(widths[-1], image.channels, 4, 2, 1), nn.Tanh()]
    return nn.Sequential(*layers)


def make_discriminator(cfg: Config, image: ImageSpec) -> nn.Sequential:
    start, halvings = pyramid(image)
    widths = [cfg.base_channels * 2**i for i in range(halvings)]  # 28x28: [64, 128]
    layers: list[nn.Module] = [nn.Conv2d(image.channels, widths[0], 4, 2, 1), nn.LeakyReLU(0.2, inplace=True)]
    for w_in, w_out in zip(widths, widths[1:]):
        layers += [nn.Conv2d(w_in, w_out, 4, 2, 1, bias=False), nn.BatchNorm2d(w_out), nn.LeakyReLU(0.2, inplace=True)]
    layers += [nn.Conv2d(widths[-1], 1, start, 1, 0), nn.Flatten(0)]  # one logit per image
    return nn.Sequential(*layers)


@FAMILIES.register("dcgan")
class DCGAN(GenerativeModel):
    """Unconditional DCGAN trained with the non-saturating GAN loss (Goodfellow et al. 2014, sec. 3)."""

    family = "dcgan"
    Config = Config

    def __init__(self, cfg: Config, image: ImageSpec) -> None:
        super().__init__(cfg, image)
        self.generator = init_normal_(make_generator(cfg, image))
        self.discriminator = init_normal_(make_discriminator(cfg, image))

    def configure_optimizers(self, train: TrainConfig) -> dict[str, torch.optim.Optimizer]:
        def adam(net: nn.Module) -> torch.optim.Optimizer:
            return torch.optim.Adam(net.parameters(), lr=train.lr, betas=train.betas, weight_decay=train.weight_decay)

        return {"generator": adam(self.generator), "discriminator": adam(self.discriminator)}

    def train_step(self, images: torch.Tensor, labels: torch.Tensor,
                   optimizers: dict[str, torch.optim.Optimizer]) -> dict[str, float]:
        z = torch.randn(images.shape[0], self.cfg.latent_dim, 1, 1, device=images.device)
        fake = self.generator(z)

        # D ascends log D(x) + log(1 - D(G(z))) (Goodfellow et al. eq. 1), real and fake as separate
        # batches so that BatchNorm statistics never mix the two (the DCGAN reference code does the same).
        real_logits = self.discriminator(images)
        fake_logits = self.discriminator(fake.detach())
        loss_d = (bce_logits(real_logits, torch.ones_like(real_logits))
                  + bce_logits(fake_logits, torch.zeros_like(fake_logits)))
        optimizers["discriminator"].zero_grad(set_to_none=True)
        loss_d.backward()
        optimizers["discriminator"].step()

        # G ascends log D(G(z)) rather than descending log(1 - D(G(z))): the same fixed point, but strong
        # gradients early on when D rejects every fake (the "non-saturating" loss). D is scored after its update.
        gen_logits = self.discriminator(fake)
        loss_g = bce_logits(gen_logits, torch.ones_like(gen_logits))
        optimizers["generator"].zero_grad(set_to_none=True)
        loss_g.backward()
        optimizers["generator"].step()

        return {"loss_d": loss_d.item(), "loss_g": loss_g.item(),
                "d_real": torch.sigmoid(real_logits).mean().item(), "d_fake": torch.sigmoid(fake_logits).mean().item()}

    def sample(self, n: int, *, generator: torch.Generator, sampler: SamplerConfig,
               labels: torch.Tensor | None = None) -> torch.Tensor:
        z = cpu_randn(n, self.cfg.latent_dim, 1, 1, generator=generator, device=self.device)
        return self.generator(z).clamp(-1.0, 1.0)

    def sampling_module(self) -> nn.Module:
        return self.generator
