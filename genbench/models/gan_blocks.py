"""The DCGAN architecture's building blocks (Radford et al. 2016, sec. 3), shared by the GANs built on them: the
generator and discriminator stacks (DCGAN, cGAN, InfoGAN, SN-GAN, WGAN-GP), the resolution pyramid they share with
the progressive families, and one step of the non-saturating GAN. A family file keeps only its own model, so
that editing it re-runs its own jobs (genbench.code_version), not those of every family that borrowed a block.
"""
from __future__ import annotations

from typing import Callable, Protocol

import torch
from torch import nn

from genbench.errors import ConfigError
from genbench.models.base import ImageSpec
from genbench.models.losses import descend, discriminator_loss, generator_loss


class ConvGANShape(Protocol):
    """The two keys of a family's Config the stacks read."""

    latent_dim: int
    base_channels: int


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


def make_generator(cfg: ConvGANShape, image: ImageSpec, *, extra_inputs: int = 0, family: str = "dcgan") -> nn.Sequential:
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


def make_discriminator(cfg: ConvGANShape, image: ImageSpec, *, norm: Callable[[int], nn.Module] | None = nn.BatchNorm2d,
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
