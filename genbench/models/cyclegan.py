"""CycleGAN: Zhu, Park, Isola & Efros 2017, "Unpaired Image-to-Image Translation using Cycle-Consistent
Adversarial Networks" (https://arxiv.org/abs/1703.10593), here MNIST (X) <-> MNIST-M (Y).

Paper -> code (the reference code's names in brackets): G: X -> Y = ``generators.G`` [netG_A],
F: Y -> X = ``generators.F`` [netG_B], D_Y = ``discriminators.D_Y`` [netD_A] judges G's outputs,
D_X = ``discriminators.D_X`` [netD_B] judges F's; lambda_x = ``cycle_weight`` [lambda_A], lambda_y =
``cycle_weight_y`` [lambda_B].

- Unpaired by construction: ``training_tensors`` shuffles the training rows with a fixed seed and takes X
  (the ``digits``) from one half and Y (the ``images``) from the other, so no batch ever holds an MNIST-M
  image together with the digit it was made from, nor that digit anywhere in X.
- Objective eq. 3 with the least-squares adversarial loss of sec. 4 (Mao et al. 2017; D's objective halved),
  the cycle loss lambda_x ||F(G(x)) - x||_1 + lambda_y ||G(F(y)) - y||_1 (both 10 in the paper), and the
  identity loss of sec. 5.2 with weight 0.5 lambda_x. Identity asks a generator to leave an image of its
  target domain unchanged; with 1-channel X and 3-channel Y the input is first brought to the generator's
  input format: the identity terms are ||G(luma(y)) - y||_1 and ||F(rgb(x)) - x||_1 (``match_channels``:
  luma by BT.601, grey replicated to RGB). Each uses one domain only, so it pairs nothing across domains.
- Generators: Johnson et al. 2016's ResNet (sec. 4, appendix 7.2): c7s1-64, d128, d256, ``res_blocks``
  residual blocks (6 for the paper's 128x128 images), u128, u64, c7s1-C, Tanh; instance norm, reflection
  padding. At 28x28 the two stride-2 convs give a 7x7 trunk. Discriminators: PatchGAN with instance norm;
  at 28x28, ``d_layers`` 1 (16x16 patches) as in ``genbench.models.pix2pix``.
- D is updated on a history of 50 generated images per discriminator (Shrivastava et al. 2017; sec. 4),
  ``ImagePool``, whose random choices come from its own seeded generator. The pools are not in checkpoint.pt
  (sampling does not need them) but in resume snapshots (``training_state``).
- Adam 2e-4, betas (0.5, 0.999), batch 1, N(0, 0.02) init (sec. 4). The paper's linear learning-rate decay
  over the second half of training is not applied (the generic loop keeps the rate constant).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import torch
from torch import nn
from torch.nn.functional import l1_loss, mse_loss

from genbench.config.parse import bounded
from genbench.config import TrainConfig
from genbench.errors import ConfigError
from genbench.models import FAMILIES
from genbench.models.base import ImageSpec, to_model_range
from genbench.models.layers import init_normal_
from genbench.models.losses import descend
from genbench.models.translation import Translator
from genbench.models.translation_layers import (ResidualBlock, adam, conv_norm_act, frozen, instance_norm,
                                                match_channels, patch_discriminator, relu)

X_ARRAY, Y_ARRAY = "digits", "images"  # the two domains' arrays of the mnist_m dataset
X_CHANNELS = 1  # MNIST digits
SPLIT_SEED = 20170330  # the fixed shuffle that splits the training rows into the X half and the Y half


@dataclass(frozen=True)
class Config:
    base_channels: int = bounded(64, ge=1)  # c7s1-64; d128 and d256 double it
    res_blocks: int = bounded(6, ge=0)  # appendix 7.2: 6 blocks for 128x128 training images, 9 for 256x256
    d_base_channels: int = bounded(64, ge=1)
    d_layers: int = bounded(1, ge=1)  # PatchGAN depth: 1 -> 16x16 patches at 28x28 (3 = the paper's 70x70 at 256)
    # lambda of eq. 3 (sec. 4), on the forward cycle x -> G -> F -> x [lambda_A]
    cycle_weight: float = bounded(10.0, ge=0)
    # lambda of the backward cycle y -> F -> G -> y [lambda_B]. MNIST-M -> MNIST drops the background, which G
    # cannot recover, so a large lambda_B pushes F to hide it in its digits (Chu et al. 2017). 0 = the paper's
    # "GAN + forward cycle" ablation (sec. 5.1.4): the backward cycle is then logged but sends no gradient.
    cycle_weight_y: float = bounded(10.0, ge=0)
    identity_weight: float = bounded(0.5, ge=0)  # identity loss weight as a multiple of lambda (sec. 5.2: 0.5 lambda)
    pool_size: int = bounded(50, ge=0)  # sec. 4: a buffer of the 50 previously generated images; 0 = none


def resnet_generator(cfg: Config, in_channels: int, out_channels: int) -> nn.Sequential:
    w = cfg.base_channels
    norm, pad = instance_norm, "reflect"
    layers = [conv_norm_act(in_channels, w, 7, norm=norm, act=relu, padding_mode=pad),  # c7s1-64
              conv_norm_act(w, 2 * w, 3, stride=2, padding=1, norm=norm, act=relu),  # d128
              conv_norm_act(2 * w, 4 * w, 3, stride=2, padding=1, norm=norm, act=relu)]  # d256
    layers += [ResidualBlock(4 * w, norm=norm, act=relu, padding_mode=pad) for _ in range(cfg.res_blocks)]
    for width in (2 * w, w):  # u128, u64: fractionally strided convs
        layers += [nn.ConvTranspose2d(2 * width, width, 3, 2, 1, output_padding=1, bias=False), norm(width),
                   nn.ReLU(inplace=True)]
    layers += [nn.Conv2d(w, out_channels, 7, 1, 3, padding_mode=pad), nn.Tanh()]  # c7s1-C
    return nn.Sequential(*layers)


class ImagePool:
    """Shrivastava et al. 2017's history buffer: until full, each fake is stored and returned; then, with
    probability 1/2, a fake replaces a random stored image, which D gets instead of it."""

    def __init__(self, size: int, *, seed: int) -> None:
        self.size = size
        self.images: list[torch.Tensor] = []
        self.generator = torch.Generator().manual_seed(seed)

    def query(self, fakes: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return fakes
        out = []
        for fake in fakes.detach():
            if len(self.images) < self.size:
                self.images.append(fake.clone())
                out.append(fake)
            elif torch.rand((), generator=self.generator) < 0.5:
                k = int(torch.randint(self.size, (), generator=self.generator))
                out.append(self.images[k])
                self.images[k] = fake.clone()
            else:
                out.append(fake)
        return torch.stack(out)

    def state_dict(self) -> dict[str, Any]:
        return {"images": list(self.images), "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.images = list(state["images"])
        self.generator.set_state(state["generator"])


def lsgan_loss(scores: torch.Tensor, target: float) -> torch.Tensor:
    """Least-squares GAN loss (Mao et al. 2017): mean (D(.) - target)^2, target 1 for real, 0 for fake."""
    return mse_loss(scores, torch.full_like(scores, target))


@FAMILIES.register("cyclegan")
class CycleGAN(Translator):
    """Two-way unpaired translation; ``forward`` = G on MNIST digits, ``backward`` = F on MNIST-M images."""

    family = "cyclegan"
    task = "unpaired"
    Config = Config
    sampler_algos = ("forward", "backward")
    training_arrays = (X_ARRAY, Y_ARRAY)
    inference_arrays = (X_ARRAY, Y_ARRAY)
    target_arrays = {"forward": Y_ARRAY, "backward": X_ARRAY}
    target_datasets = {"backward": "mnist"}  # F's outputs are digits: measured in MNIST's domain

    def __init__(self, cfg: Config, image: ImageSpec) -> None:
        super().__init__(cfg, image)
        x_ch, y_ch = X_CHANNELS, image.channels
        self.generators = nn.ModuleDict({"G": resnet_generator(cfg, x_ch, y_ch),
                                         "F": resnet_generator(cfg, y_ch, x_ch)})
        self.discriminators = nn.ModuleDict(
            {name: patch_discriminator(ch, base_channels=cfg.d_base_channels, layers=cfg.d_layers, norm=instance_norm)
             for name, ch in (("D_X", x_ch), ("D_Y", y_ch))})
        init_normal_(self)
        # Seeds from the global RNG (set by the run's seed), so a run's pool choices are fixed by its seed.
        seeds = torch.randint(2**62, (2,)).tolist()
        self.pools = {"X": ImagePool(cfg.pool_size, seed=seeds[0]), "Y": ImagePool(cfg.pool_size, seed=seeds[1])}

    def training_tensors(self, arrays: Mapping[str, np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
        x_rows, y_rows = unpaired_rows(len(arrays[Y_ARRAY]))
        return self.translation_inputs({X_ARRAY: arrays[X_ARRAY][x_rows]}, "forward"), \
            self.translation_inputs({Y_ARRAY: arrays[Y_ARRAY][y_rows]}, "backward")

    def translation_inputs(self, arrays: Mapping[str, np.ndarray], direction: str) -> torch.Tensor:
        name, channels = (X_ARRAY, X_CHANNELS) if direction == "forward" else (Y_ARRAY, self.image.channels)
        if arrays[name].shape[1:] != (channels, self.image.height, self.image.width):
            raise ConfigError(f"{self.family}: array '{name}' has rows of shape {arrays[name].shape[1:]}, expected "
                              f"{(channels, self.image.height, self.image.width)}")
        return to_model_range(torch.from_numpy(arrays[name]))

    def configure_optimizers(self, train: TrainConfig) -> dict[str, torch.optim.Optimizer]:
        return {"generator": adam(self.generators, train), "discriminator": adam(self.discriminators, train)}

    def train_step(self, x: torch.Tensor, y: torch.Tensor,
                   optimizers: dict[str, torch.optim.Optimizer]) -> dict[str, float]:
        G, F = self.generators["G"], self.generators["F"]
        D_X, D_Y = self.discriminators["D_X"], self.discriminators["D_Y"]
        fake_y, fake_x = G(x), F(y)
        # G and F together: adversarial terms (eq. 1, least squares) against frozen D's, cycle (eq. 2), identity.
        with frozen(self.discriminators):
            loss_gan = lsgan_loss(D_Y(fake_y), 1.0) + lsgan_loss(D_X(fake_x), 1.0)
        cycle_x = l1_loss(F(fake_y), x)
        # At cycle_weight_y 0 (the paper's "GAN + forward cycle" ablation) the backward cycle is only logged.
        with torch.set_grad_enabled(self.cfg.cycle_weight_y > 0):
            cycle_y = l1_loss(G(fake_x), y)
        loss_idt = torch.zeros((), device=x.device)
        if self.cfg.identity_weight > 0:
            loss_idt = l1_loss(G(match_channels(y, x.shape[1])), y) + l1_loss(F(match_channels(x, y.shape[1])), x)
        lam = self.cfg.cycle_weight
        loss_cycle = lam * cycle_x + self.cfg.cycle_weight_y * cycle_y
        descend(optimizers["generator"], loss_gan + loss_cycle + self.cfg.identity_weight * lam * loss_idt)
        # Discriminators, on fakes from the history pools.
        pooled_y, pooled_x = self.pools["Y"].query(fake_y), self.pools["X"].query(fake_x)
        loss_d_y = 0.5 * (lsgan_loss(D_Y(y), 1.0) + lsgan_loss(D_Y(pooled_y), 0.0))
        loss_d_x = 0.5 * (lsgan_loss(D_X(x), 1.0) + lsgan_loss(D_X(pooled_x), 0.0))
        descend(optimizers["discriminator"], loss_d_x + loss_d_y)
        return {"loss_g_gan": loss_gan.item(), "loss_cycle_x": cycle_x.item(), "loss_cycle_y": cycle_y.item(),
                "loss_idt": loss_idt.item(), "loss_d_x": loss_d_x.item(), "loss_d_y": loss_d_y.item()}

    def translate(self, source: torch.Tensor, *, direction: str = "forward",
                  generator: torch.Generator | None = None) -> torch.Tensor:
        if direction not in self.sampler_algos:
            raise ConfigError(f"cyclegan: unknown direction '{direction}' (valid: {', '.join(self.sampler_algos)})")
        net = self.generators["G" if direction == "forward" else "F"]
        return net(source.to(self.device)).clamp(-1.0, 1.0)

    def training_state(self) -> dict[str, Any]:
        return {name: pool.state_dict() for name, pool in self.pools.items()}

    def load_training_state(self, state: dict[str, Any]) -> None:
        for name, pool in self.pools.items():
            pool.load_state_dict(state[name])

    def sampling_module(self) -> nn.Module:
        return self.generators  # G and F together, so an EMA covers both directions


def unpaired_rows(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint row indices (X rows, Y rows), floor(n/2) each, from a fixed shuffle of range(n)."""
    order = np.random.default_rng(SPLIT_SEED).permutation(n)
    half = n // 2
    return np.sort(order[:half]), np.sort(order[half:2 * half])
