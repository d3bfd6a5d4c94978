"""DCGAN: Radford, Metz & Chintala 2016, "Unsupervised Representation Learning with Deep Convolutional
Generative Adversarial Networks" (https://arxiv.org/abs/1511.06434).

Paper -> code: G = ``generator``, D = ``discriminator``. The paper's architecture guidelines (sec. 3):
strided convolutions instead of pooling, BatchNorm in both nets except G's output and D's input layer,
ReLU in G with Tanh output, LeakyReLU(0.2) in D, no fully connected hidden layers; weights ~ N(0, 0.02),
Adam with lr 2e-4 and beta1 0.5 (sec. 4; the TrainConfig defaults).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from genbench.config import SamplerConfig, TrainConfig
from genbench.errors import ConfigError
from genbench.models import FAMILIES
from genbench.models.base import GenerativeModel, ImageSpec
from genbench.models.layers import init_normal_, latent_normal
from genbench.models.losses import descend, discriminator_loss, generator_loss


@dataclass(frozen=True)
class Config:
    latent_dim: int = 100  # sec. 4: a 100-d z
    base_channels: int = 64  # width at the highest resolution; doubles at every halving


def pyramid(image: ImageSpec, family: str = "dcgan") -> tuple[int, int]:
    """(start, halvings) with side = start * 2**halvings and 4 <= start <= 7: 28 = 7 * 2**2, 32 = 4 * 2**3.

    G grows a ``start`` x ``start`` map from z by one transposed conv, then doubles it ``halvings`` times;
    D mirrors it. Sides with no such factorisation (e.g. 30) have no DCGAN of this shape; the error names
    ``family``, the family whose networks asked.
    """
    side, halvings = image.height, 0
    while side % 2 == 0 and side > 7:
        side, halvings = side // 2, halvings + 1
    if image.width != image.height or halvings == 0 or side > 7:
        raise ConfigError(f"{family}: cannot model {image.height}x{image.width} images (needs square images whose "
                          f"side is 4..7 times a power of two, e.g. 28 or 32)")
    return side, halvings


def make_generator(cfg: Config, image: ImageSpec, *, extra_inputs: int = 0, family: str = "dcgan") -> nn.Sequential:
    """G: (N, latent_dim + extra_inputs, 1, 1) -> images. ``extra_inputs`` are channels that other families
    concatenate to z (cgan's one-hot class, InfoGAN's codes)."""
    start, halvings = pyramid(image, family)
    widths = [cfg.base_channels * 2**i for i in reversed(range(halvings))]  # 28x28: [128, 64]
    # Convolutions followed by BatchNorm carry no bias: BatchNorm's shift replaces it.
    layers: list[nn.Module] = [nn.ConvTranspose2d(cfg.latent_dim + extra_inputs, widths[0], start, 1, 0, bias=False),
                               nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True)]  # z -> start x start
    for w_in, w_out in zip(widths, widths[1:]):
        layers += [nn.ConvTranspose2d(w_in, w_out, 4, 2, 1, bias=False), nn.BatchNorm2d(w_out), nn.ReLU(inplace=True)]
    layers += [nn.ConvTranspose2d(widths[-1], image.channels, 4, 2, 1), nn.Tanh()]
    return nn.Sequential(*layers)


def make_discriminator(cfg: Config, image: ImageSpec, *, norm: Callable[[int], nn.Module] | None = nn.BatchNorm2d,
                       extra_inputs: int = 0, family: str = "dcgan") -> nn.Sequential:
    """D mirrors G. ``norm(width)`` follows every conv but the first and the last; other families swap
    it (WGAN-GP's critic takes layer norm or none, SN-GAN none). Without it the convs get their bias back.
    ``extra_inputs`` channels are concatenated to the image (cgan's one-hot planes). The last two layers are
    the logit head (a conv over the whole last map, then flatten); InfoGAN splits D there to share the body."""
    start, halvings = pyramid(image, family)
    widths = [cfg.base_channels * 2**i for i in range(halvings)]  # 28x28: [64, 128]
    layers: list[nn.Module] = [nn.Conv2d(image.channels + extra_inputs, widths[0], 4, 2, 1),
                               nn.LeakyReLU(0.2, inplace=True)]
    for w_in, w_out in zip(widths, widths[1:]):
        layers.append(nn.Conv2d(w_in, w_out, 4, 2, 1, bias=norm is None))
        if norm is not None:
            layers.append(norm(w_out))
        layers.append(nn.LeakyReLU(0.2, inplace=True))
    layers += [nn.Conv2d(widths[-1], 1, start, 1, 0), nn.Flatten(0)]  # one logit per image
    return nn.Sequential(*layers)


def adversarial_step(discriminate: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor,
                     optimizers: dict[str, torch.optim.Optimizer]) -> dict[str, float]:
    """One D step, then one G step, of the non-saturating GAN. ``discriminate`` maps images to logits (a
    conditional family binds the labels); ``fake`` is G's output, still attached to G's graph."""
    # Real and fake as separate batches so that BatchNorm statistics never mix the two (the DCGAN
    # reference code does the same).
    real_logits = discriminate(real)
    fake_logits = discriminate(fake.detach())
    loss_d = discriminator_loss(real_logits, fake_logits)
    descend(optimizers["discriminator"], loss_d)
    loss_g = generator_loss(discriminate(fake))  # D is scored after its update
    descend(optimizers["generator"], loss_g)
    return {"loss_d": loss_d.item(), "loss_g": loss_g.item(),
            "d_real": torch.sigmoid(real_logits).mean().item(), "d_fake": torch.sigmoid(fake_logits).mean().item()}


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
