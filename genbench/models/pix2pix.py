"""pix2pix: Isola, Zhu, Zhou & Efros 2017, "Image-to-Image Translation with Conditional Adversarial Networks"
(https://arxiv.org/abs/1611.07004), here label map -> MNIST-M image (the paper's labels -> photo task).

Paper -> code: x = the one-hot label map (``one_hot_maps`` of the dataset's ``label_maps``: background + one
class per digit), y = the image, G = ``generator``, D = ``discriminator``, lambda = ``l1_weight``. The
objective is eq. 4: G* = arg min_G max_D L_cGAN(G, D) + lambda L_L1(G), with lambda 100 (sec. 4).

- G is the U-Net of sec. 3.2.1 / appendix 6.1.1: 4x4 stride-2 convs with BatchNorm and LeakyReLU(0.2) down
  to a 1x1 bottleneck, transposed convs with BatchNorm and ReLU up, encoder layer i concatenated to decoder
  layer n - i; Tanh out. 28x28 inputs are padded to 32 (replicate) so that ``levels`` = 5 halvings reach
  1x1 like the paper's 8 do at 256, and the output is cropped back. BatchNorm is left out at the 1x1
  bottleneck (the reference code does the same: one pixel has no spatial statistics).
- Dropout (p ``dropout``, the first three decoder layers, appendix 6.1.1) is G's only noise, as in the paper,
  but only in training: ``translate`` runs in eval mode, so a translation is deterministic (the paper keeps
  dropout at test time; the stochasticity it buys is minor, sec. 2).
- D is the conditional PatchGAN (sec. 3.2.2) on x and y stacked as channels. The paper's 70x70 patch is 27%
  of a 256 side; at 28x28 that PatchGAN would see the whole image (the "ImageGAN" the paper found worse,
  Table 3), so ``d_layers`` 1 gives 16x16 patches (a 12x12 map of logits), the nearest in proportion.
- BCE-with-logits loss; D's objective halved (sec. 3.3), one D step then one G step per batch; Adam 2e-4,
  betas (0.5, 0.999) and N(0, 0.02) init (sec. 3.3, appendix 6.2), batch 4 (appendix 6.3, sets of this size).

``translation_inputs`` gives the one-hot maps (N, 11, H, W) that ``translate`` takes; ``training_tensors`` keeps
the uint8 label maps (N, H, W) and ``train_step`` one-hot encodes each batch (the float one-hot of the 60k
training maps would take 2 GB).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from genbench.config.parse import bounded
from genbench.config import TrainConfig
from genbench.errors import ConfigError
from genbench.models import FAMILIES
from genbench.models.base import ImageSpec, to_model_range
from genbench.models.layers import init_normal_
from genbench.models.losses import descend, discriminator_loss, generator_loss
from genbench.models.translation import Translator, one_hot_maps
from genbench.models.translation_layers import adam, frozen, patch_discriminator


@dataclass(frozen=True)
class Config:
    base_channels: int = bounded(64, ge=1)  # C64 at the first encoder layer; doubles per level up to max_channels
    max_channels: int = bounded(512, ge=1)  # the paper's C512 cap
    levels: int = bounded(5, ge=2)  # halvings of the (padded) 32x32 input down to 1x1; >= 2: the U-Net needs a skip
    dropout: float = bounded(0.5, ge=0, lt=1)  # appendix 6.1.1: CD layers, the first three of the decoder; 0 = none
    l1_weight: float = 100.0  # lambda of eq. 4 (sec. 4)
    d_base_channels: int = bounded(64, ge=1)
    d_layers: int = bounded(1, ge=1)  # PatchGAN depth: 1 -> 16x16 patches, 2 -> 34x34, 3 -> 70x70 (the paper's at 256)


class UNet(nn.Module):
    """The U-Net generator: encoder features e_1..e_L, decoder d_L..d_1 with d_i = up(cat(d_{i+1}, e_i))."""

    def __init__(self, cfg: Config, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.multiple = 2**cfg.levels
        widths = [min(cfg.base_channels * 2**i, cfg.max_channels) for i in range(cfg.levels)]
        self.down = nn.ModuleList()
        for i, width in enumerate(widths):  # C64 has no norm (appendix 6.1.1), nor has the 1x1 bottleneck
            norm = 0 < i < cfg.levels - 1
            self.down.append(nn.Sequential(nn.Conv2d(in_channels if i == 0 else widths[i - 1], width, 4, 2, 1,
                                                     bias=not norm), nn.BatchNorm2d(width) if norm else nn.Identity(),
                                           nn.LeakyReLU(0.2, inplace=True)))
        self.up = nn.ModuleList()
        for i in reversed(range(1, cfg.levels)):  # level i -> i - 1; inputs are skip-concatenated except at the bottom
            width_in = widths[i] * (1 if i == cfg.levels - 1 else 2)
            drop = cfg.levels - 1 - i < 3 and cfg.dropout > 0
            self.up.append(nn.Sequential(nn.ConvTranspose2d(width_in, widths[i - 1], 4, 2, 1, bias=False),
                                         nn.BatchNorm2d(widths[i - 1]),
                                         nn.Dropout(cfg.dropout) if drop else nn.Identity(), nn.ReLU(inplace=True)))
        self.out = nn.Sequential(nn.ConvTranspose2d(2 * widths[0], out_channels, 4, 2, 1), nn.Tanh())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        pad_h, pad_w = -h % self.multiple, -w % self.multiple
        x = F.pad(x, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2), mode="replicate")
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
        x = skips.pop()
        for block in self.up:
            x = torch.cat([block(x), skips.pop()], dim=1)
        x = self.out(x)
        return x[..., pad_h // 2:pad_h // 2 + h, pad_w // 2:pad_w // 2 + w]


@FAMILIES.register("pix2pix")
class Pix2Pix(Translator):
    """Conditional GAN from label maps to images: U-Net G, conditional PatchGAN D, cGAN + lambda L1 loss."""

    family = "pix2pix"
    task = "paired"
    Config = Config
    training_arrays = ("label_maps", "images")
    inference_arrays = ("label_maps",)

    def __init__(self, cfg: Config, image: ImageSpec) -> None:
        super().__init__(cfg, image)
        self.num_labels = image.num_classes + 1  # background + one label per class (genbench.data.mnist_m)
        self.generator = init_normal_(UNet(cfg, self.num_labels, image.channels))
        self.discriminator = init_normal_(patch_discriminator(self.num_labels + image.channels,
                                                              base_channels=cfg.d_base_channels, layers=cfg.d_layers))

    def training_tensors(self, arrays: Mapping[str, np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
        """The uint8 label maps (one-hot encoded per batch in ``train_step``) and the images."""
        return self.label_maps(arrays), to_model_range(torch.from_numpy(arrays["images"]))

    def translation_inputs(self, arrays: Mapping[str, np.ndarray], direction: str) -> torch.Tensor:
        return one_hot_maps(self.label_maps(arrays), self.num_labels)

    def label_maps(self, arrays: Mapping[str, np.ndarray]) -> torch.Tensor:
        maps = arrays["label_maps"]
        if maps.size and int(maps.max()) >= self.num_labels:
            raise ConfigError(f"pix2pix: array 'label_maps' holds label {int(maps.max())}, but the dataset's "
                              f"{self.image.num_classes} classes allow 0..{self.num_labels - 1}")
        return torch.from_numpy(maps)

    def configure_optimizers(self, train: TrainConfig) -> dict[str, torch.optim.Optimizer]:
        return {"generator": adam(self.generator, train), "discriminator": adam(self.discriminator, train)}

    def train_step(self, source: torch.Tensor, target: torch.Tensor,
                   optimizers: dict[str, torch.optim.Optimizer]) -> dict[str, float]:
        x = one_hot_maps(source, self.num_labels)
        fake = self.generator(x)
        # D on (x, y) and (x, G(x)) as separate batches, so BatchNorm statistics never mix real and fake.
        real_logits = self.discriminator(torch.cat([x, target], dim=1))
        fake_logits = self.discriminator(torch.cat([x, fake.detach()], dim=1))
        loss_d = 0.5 * discriminator_loss(real_logits, fake_logits)  # sec. 3.3: D's objective divided by 2
        descend(optimizers["discriminator"], loss_d)
        with frozen(self.discriminator):  # non-saturating G loss (sec. 3.3), scored by the updated D
            loss_gan = generator_loss(self.discriminator(torch.cat([x, fake], dim=1)))
        loss_l1 = F.l1_loss(fake, target)
        descend(optimizers["generator"], loss_gan + self.cfg.l1_weight * loss_l1)
        return {"loss_d": loss_d.item(), "loss_g_gan": loss_gan.item(), "loss_l1": loss_l1.item(),
                "d_real": torch.sigmoid(real_logits).mean().item(), "d_fake": torch.sigmoid(fake_logits).mean().item()}

    def translate(self, source: torch.Tensor, *, direction: str = "forward",
                  generator: torch.Generator | None = None) -> torch.Tensor:
        return self.generator(source.to(self.device)).clamp(-1.0, 1.0)

    def sampling_module(self) -> nn.Module:
        return self.generator
